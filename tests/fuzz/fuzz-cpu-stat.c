/* SPDX-License-Identifier: MIT */
/* Fuzz target: cpu.stat and cpuacct.usage parsers (probes/cpustat.c). */
#include "probes/cpustat.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApCpuStat s;
        uint64_t us;

        (void)ap_cpu_stat_parse((const char *)data, size, &s);
        (void)ap_cpuacct_usage_parse((const char *)data, size, &us);
        return 0;
}
