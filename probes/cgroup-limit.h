/* SPDX-License-Identifier: MIT */
/*
 * The CPU bandwidth limit: parsers of v2 cpu.max and v1 cpu.cfs_quota_us/cpu.cfs_period_us
 * (cgroup2.c, cgroup1.c), and the limit chain (cgroup-limit.c): every level from the process
 * cgroup up to and including the mount root, its files kept open so that a re-read is a few preads.
 *
 * Kernel: Documentation/admin-guide/cgroup-v2.rst "cpu.max" ("$MAX $PERIOD", "max" = no limit),
 * Documentation/scheduler/sched-bwc.rst (v1: quota -1 = no limit, any negative write removes the
 * limit; period 1 ms .. 1 s).  The binding level is the one with the lowest quota/period, compared
 * exactly (128-bit cross-multiplication); ties keep the level closest to the process.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup-path.h"
#include "probe.h"

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

/*
 * v1 cpu.cfs_quota_us (signed; negative = no limit; 0 invalid) and cpu.cfs_period_us (> 0).
 * ap_cfs_combine() makes a level from both parsed values.
 */
int ap_cfs_quota_parse(const char *buf, size_t len, int64_t *ret);
int ap_cfs_period_parse(const char *buf, size_t len, uint64_t *ret);
void ap_cfs_combine(int64_t quota, uint64_t period, ApCpuMax *ret);

/* True when a (limited) is strictly lower than b (unlimited b = +inf).  Exact. */
bool ap_cpu_max_lower(const ApCpuMax *a, const ApCpuMax *b);

/* ---- the chain ----------------------------------------------------------------------------- */

typedef struct ApLimitLevel {
        char *hier_path;      /* hierarchy-relative cgroup of this level ("/", "/kubepods") */
        char *file;           /* display path of cpu.max or cpu.cfs_quota_us ("/sys/fs/cgroup/..") */
        char *dir;            /* directory relative to mnt_fd */
        int fd_a;             /* v2 cpu.max, v1 cpu.cfs_quota_us; -1 = missing at open */
        int fd_b;             /* v1 cpu.cfs_period_us; -1 */
} ApLimitLevel;

typedef struct ApLimitChain {
        int version;          /* 1 or 2; 0 = empty chain */
        ApLimitLevel *levels; /* [0] = the process cgroup ... [n-1] = mount root */
        size_t n;
} ApLimitChain;

#define AP_LIMIT_CHAIN_NULL ((ApLimitChain){ 0 })

/* The binding limit found by one read. */
typedef struct ApCpuLimit {
        bool limited;
        uint64_t quota_us, period_us;
        size_t level;             /* index into the chain of the binding level */
        const char *cgroup;       /* borrowed: chain->levels[level].hier_path */
        const char *file;         /* borrowed: the file that binds (display path) */
} ApCpuLimit;

/*
 * Open every level of @loc (the cpu hierarchy of a model) relative to @root->mnt_fd.  A level whose
 * files are missing is kept with fd -1 (the v2 root never has cpu.max); the files are not
 * re-opened later: after a move or a controller change, build a new chain.
 * @retval 0  @retval AP_PROBE_NOT_APPLICABLE @loc has no hierarchy  @retval -ENOMEM
 */
int ap_limit_chain_open(const ApProbeRoot *root, const ApCgroupLoc *loc, ApLimitChain *ret,
                        ApWarnings *warn);
/*
 * Re-read every open level by pread and take the lowest quota/period.  No allocation, no
 * openat: a few µs for a few levels (the watcher's tick; v1: the period is not read at a level
 * whose quota is negative).  A level that fails to read or parse is
 * ignored and warned about; @warn may be NULL on the hot path, then *ret_failed (if non-NULL)
 * counts such levels (> 0 = something changed under us: re-resolve).
 * @retval 0 (ret->limited false = no limit anywhere)
 */
int ap_limit_chain_read(const ApLimitChain *chain, ApCpuLimit *ret, size_t *ret_failed,
                        ApWarnings *warn);
void ap_limit_chain_done(ApLimitChain *chain);

/* One-shot convenience: open, read, close.  @retval as ap_limit_chain_open(). */
int ap_limit_read(const ApProbeRoot *root, const ApCgroupLoc *loc, ApCpuLimit *ret,
                  char **ret_cgroup, char **ret_file, ApWarnings *warn);
