/* SPDX-License-Identifier: MIT */
/* Fuzz target: cpu.pressure parser (probes/psi.c). */
#include "probes/psi.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApPsi p;

        if (ap_psi_parse((const char *)data, size, &p) == 0) {
                FUZZ_ASSERT(p.some.avg10 <= 10000 && p.some.avg60 <= 10000 && p.some.avg300 <= 10000);
                if (p.has_full)
                        FUZZ_ASSERT(p.full.avg10 <= 10000);
        }
        return 0;
}
