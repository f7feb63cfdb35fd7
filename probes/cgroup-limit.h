/* SPDX-License-Identifier: MIT */
/*
 * The CPU bandwidth limit chain (cgroup-limit.c): every level from the process cgroup up to and
 * including the mount root, its files kept open so that a re-read is a few preads.  Each level is
 * parsed by cgroup2.h (cpu.max) or cgroup1.h (cpu.cfs_quota_us and cpu.cfs_period_us).
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

#include "probes/cgroup-resolve.h"
#include "probes/cgroup1.h"
#include "probes/cgroup2.h"
#include "probes/probe.h"

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
