/* SPDX-License-Identifier: MIT */
/*
 * Throttling and usage: cpu.stat (v1 "throttled_time" in ns; v2 "throttled_usec", "usage_usec" in
 * µs; both "nr_periods", "nr_throttled") and v1 cpuacct.usage (ns).
 * Kernel: Documentation/scheduler/sched-bwc.rst "Statistics", cgroup-v2.rst "cpu.stat".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/cgroup-path.h"
#include "probes/probe.h"

typedef struct ApCpuStat {
        bool has_throttling;      /* nr_periods, nr_throttled and a throttled time were all present */
        uint64_t nr_periods;
        uint64_t nr_throttled;
        uint64_t throttled_usec;
        bool has_usage;
        uint64_t usage_usec;
} ApCpuStat;

/* Parse cpu.stat text ("key value" lines; unknown keys ignored, a malformed line of a known key
 * => -EINVAL, a duplicate key => -EINVAL).  @retval 0 */
int ap_cpu_stat_parse(const char *buf, size_t len, ApCpuStat *ret);
/* cpuacct.usage (ns) to µs.  @retval 0  @retval -EINVAL */
int ap_cpuacct_usage_parse(const char *buf, size_t len, uint64_t *ret_usec);

/*
 * Read cpu.stat of directory @dir (relative to @root->mnt_fd) and, for v1 with @cpuacct_dir
 * non-NULL, cpuacct.usage there.  @retval 0  @retval AP_PROBE_NOT_APPLICABLE (warned)
 */
int ap_cpu_stat_read(const ApProbeRoot *root, const char *dir, const char *cpuacct_dir,
                     ApCpuStat *ret, ApWarnings *warn);
