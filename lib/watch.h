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
 * The damping rule (why: a quota that flaps must not make the runtime resize on every tick, yet
 * a single change -- a Kubernetes in-place resize -- must take effect within one tick):
 *   1. A recommendation equal to the size in force changes nothing.
 *   2. A change in the same direction as the last resize, or any change once the last resize is
 *      AP_WATCH_SETTLE_TICKS ticks old, takes effect at once.
 *   3. A reversal (the opposite direction) within AP_WATCH_SETTLE_TICKS ticks of the last resize
 *      takes effect only when it has been seen on AP_WATCH_REVERSAL_TICKS consecutive ticks;
 *      each held sighting re-opens the settle window.
 * So a limit that flips every tick or every other tick causes one resize, then none while it
 * keeps flipping; a limit that changes once costs at most one tick (+ the 1 ms confirmation read
 * of ap_watch_tick()), in either direction.  Why not "decrease after 2 ticks, increase at once":
 * that doubles the reaction to every decrease (a Kubernetes downsize) to dampen flaps that are
 * rare, while this rule only slows down what actually flaps.
 * An unknown recommendation (0: every read failed) never resizes: keep what works.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util/cleanup.h"

#define AP_WATCH_SETTLE_TICKS 4u
#define AP_WATCH_REVERSAL_TICKS 3u

typedef struct ApWatchDamper {
        unsigned current;        /* the size in force (requested last) */
        int last_dir;            /* +1 grew, -1 shrank, 0 no resize yet */
        unsigned ticks_since;    /* ticks since the last resize (saturating) */
        unsigned pending_ticks;  /* consecutive ticks a held reversal has been seen */
} ApWatchDamper;

void ap_watch_damper_init(ApWatchDamper *d, unsigned current);
/* Feed one tick's recommendation (0 = unknown).  @retval the new size to apply, 0 = keep. */
unsigned ap_watch_damper_step(ApWatchDamper *d, unsigned recommended);
/* The size was set from outside (autoprocs_procs_set): take it as current, forget the history. */
void ap_watch_damper_reset(ApWatchDamper *d, unsigned current);

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

/* The last result (what the previous tick, or resolution at ap_watch_new(), found). */
const ApWatchResult *ap_watch_last(const ApWatch *w);
