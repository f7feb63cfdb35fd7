/* SPDX-License-Identifier: MIT */
/*
 * The watcher: keeps the recommended processor count current as the CPU limit changes.
 *
 * Two parts, apart so that each is testable alone:
 *   - ApWatchDamper: the pure decision (damping of reversals); no I/O, no clock, no threads.
 *   - ApWatch: the cheap re-reading of one resolved process/cgroup (cached fds, pread), noticing
 *     a move to another cgroup and a mount change, re-resolving only then.  No threads either:
 *     init.c runs ap_watch_tick() on its watcher thread.
 *
 * The damping rule is described in watch-damper.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/init-config.h"
#include "lib/util/cleanup.h"
#include "probes/cpustat.h"
#include "probes/psi.h"

/* What one tick found; bits of ApWatchResult.flags. */
enum {
        AP_WATCH_LIMIT_CHANGED = 1 << 0, /* quota/period/affinity differ from the last tick */
        AP_WATCH_MOVED = 1 << 1,         /* /proc/PID/cgroup changed: re-resolved */
        AP_WATCH_REMOUNTED = 1 << 2,     /* mountinfo changed: re-resolved */
        AP_WATCH_RERESOLVED = 1 << 3,    /* a cached file failed or vanished: re-resolved */
        AP_WATCH_FAILED = 1 << 4,        /* nothing could be read: procs = 0 (unknown) */
};

typedef struct ApWatchResult {
        unsigned procs;          /* the recommendation under the policy; 0 = unknown */
        unsigned flags;
        bool has_limit;
        uint64_t quota_us, period_us;
        unsigned affinity;
} ApWatchResult;

typedef struct ApWatch ApWatch;

/*
 * Resolve the process or cgroup that @config describes (root, pid, cgroup_dir, policy, min,
 * reserve; the config is copied) and open what the ticks re-read.
 * @retval 0  @retval -ENOMEM  @retval -errno the root cannot be opened
 * A process without any readable cgroup file is not an error: its ticks report the affinity.
 */
int ap_watch_new(const autoprocs_config *config, ApWatch **ret);
ApWatch *ap_watch_free(ApWatch *w);
AP_DEFINE_CLEANUP(ApWatch *, ap_watch_free)

/*
 * One tick: re-read the resolved limit chain through its open fds, re-read /proc/PID/cgroup and
 * re-resolve if it changed, re-parse mountinfo only if it changed, re-resolve if a cached file
 * failed.  A recommendation different from @w's previous one is confirmed by a second read
 * @confirm_ns later (0 = none), which filters a v1 quota and period caught between two writes.
 * Fills @ret.  @retval 0 (failures are reported in ret->flags, never as an error)
 */
int ap_watch_tick(ApWatch *w, uint64_t confirm_ns, ApWatchResult *ret);

/*
 * Tests only (not exported): @fn(@userdata) runs between the two reads of a confirmation, after
 * the delay, on the ticking thread -- where a racing writer would finish a v1 quota/period pair,
 * so that a test can do exactly that.  NULL: none (the default).  Set it before any watch ticks.
 */
void ap_watch_set_confirm_hook(void (*fn)(void *userdata), void *userdata);

/*
 * The throttling and usage counters of the cgroup whose limit binds (cpu.stat there; v1: usage
 * only where cpuacct is co-mounted).  Opens and reads one file: call it at the tick's pace.
 * @retval 0  @retval -ENODATA no binding limit or no counters  @retval -errno
 */
int ap_watch_cpu_stat(ApWatch *w, uint64_t *ret_periods, uint64_t *ret_throttled,
                      uint64_t *ret_usage_ns);

/* The counters of the resolved cgroup, as detection reads them: cpu.stat of the binding level
 * (the process cgroup's when unlimited), v1 usage from cpuacct.usage (the same directory when
 * cpuacct is co-mounted, else the process's cpuacct cgroup), CPU PSI of the v2 location. */
typedef struct ApWatchCounters {
        bool has_stat;
        ApCpuStat stat;
        bool has_psi;
        ApPsi psi;
} ApWatchCounters;

/*
 * Read the counters through fds kept open (opened at the first call, again after a
 * re-resolution or a change of the binding level): a few preads, no openat, no parse of
 * mountinfo -- the daemon's per-target cost.  Fills @ret (what is missing is false).
 * @retval 0  @retval -ENODATA nothing resolved
 */
int ap_watch_counters(ApWatch *w, ApWatchCounters *ret);

/* The last result (what the previous tick, or resolution at ap_watch_new(), found). */
const ApWatchResult *ap_watch_last(const ApWatch *w);
