/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 cpu.max (cgroup2.c): one level's bandwidth setting, its parser, and the exact
 * comparison of two settings.  ApCpuMax is also what a v1 level becomes (cgroup1.h).
 * Kernel: Documentation/admin-guide/cgroup-v2.rst "cpu.max" ("$MAX $PERIOD", "max" = no limit).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One level's setting. */
typedef struct ApCpuMax {
        bool limited;          /* false: "max" / negative quota = no limit at this level */
        uint64_t quota_us;     /* > 0 when limited */
        uint64_t period_us;    /* > 0 when limited */
} ApCpuMax;

/*
 * v2 cpu.max: "max 100000", "50000 100000", "max", "50000" (one field: period 100000, as
 * automaxprocs); one trailing newline allowed.  quota 0, period 0, signs, extra fields, garbage,
 * NUL bytes => -EINVAL; overflow => -ERANGE.  Writes *ret only on success.
 */
int ap_cpu_max_parse(const char *buf, size_t len, ApCpuMax *ret);

/* True when a (limited) is strictly lower than b (unlimited b = +inf).  Exact. */
bool ap_cpu_max_lower(const ApCpuMax *a, const ApCpuMax *b);
