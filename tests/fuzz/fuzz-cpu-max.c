/* SPDX-License-Identifier: MIT */
/* Fuzz target: v2 cpu.max and v1 cpu.cfs_quota_us / cpu.cfs_period_us parsers, and the exact
 * comparison (antisymmetric). */
#include "probes/cgroup-limit.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApCpuMax a, b;
        int64_t q;
        uint64_t p;
        size_t half = size / 2;

        if (ap_cpu_max_parse((const char *)data, size, &a) == 0 && a.limited)
                FUZZ_ASSERT(a.quota_us > 0 && a.period_us > 0);
        if (ap_cfs_quota_parse((const char *)data, size, &q) == 0)
                FUZZ_ASSERT(q != 0);
        if (ap_cfs_period_parse((const char *)data, size, &p) == 0)
                FUZZ_ASSERT(p > 0);
        if (ap_cpu_max_parse((const char *)data, half, &a) == 0 &&
            ap_cpu_max_parse((const char *)data + half, size - half, &b) == 0)
                FUZZ_ASSERT(!(ap_cpu_max_lower(&a, &b) && ap_cpu_max_lower(&b, &a)));
        return 0;
}
