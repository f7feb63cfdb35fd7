/* SPDX-License-Identifier: MIT */
/* Fuzz target: CPU list syntax and the status file's Cpus_allowed_list (probes/cpuset.c). */
#include "probes/cpuset.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApCpuSet s = AP_CPU_SET_NULL;

        if (ap_cpu_list_parse((const char *)data, size, &s) == 0) {
                FUZZ_ASSERT(s.nbits <= (size_t)AP_CPU_ID_MAX + 1);
                FUZZ_ASSERT(ap_cpu_set_count(&s) <= s.nbits);
        }
        ap_cpu_set_done(&s);
        if (ap_status_cpus_allowed_parse((const char *)data, size, &s) == 0)
                FUZZ_ASSERT(ap_cpu_set_count(&s) <= s.nbits);
        ap_cpu_set_done(&s);
        return 0;
}
