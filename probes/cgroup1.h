/* SPDX-License-Identifier: MIT */
/*
 * cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us (cgroup1.c).
 * Kernel: Documentation/scheduler/sched-bwc.rst (quota -1 = no limit, any negative write removes
 * the limit; period 1 ms .. 1 s).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probes/cgroup2.h"

/*
 * v1 cpu.cfs_quota_us (signed; negative = no limit; 0 invalid) and cpu.cfs_period_us (> 0).
 * ap_cfs_combine() makes a level from both parsed values.
 */
int ap_cfs_quota_parse(const char *buf, size_t len, int64_t *ret);
int ap_cfs_period_parse(const char *buf, size_t len, uint64_t *ret);
void ap_cfs_combine(int64_t quota, uint64_t period, ApCpuMax *ret);
