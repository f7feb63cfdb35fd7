/* SPDX-License-Identifier: MIT */
/*
 * The pacing controller: a token bucket of CPU time that keeps a process below its CFS quota
 * over every period, so that the kernel never has to throttle it.  Pure: no clock, no threads,
 * no I/O.  Times are passed in (ns, monotonic), so that tests drive it on a simulated clock;
 * pace.c feeds it from the workers' thread CPU clocks and calls it under a lock.
 *
 * Why a bucket and not "floor(Q) free processors plus one fractional one": the quota is spent by
 * the whole cgroup, not by one processor.  Other threads of the process (the application's own,
 * a blocking call's, the monitor, an HTTP library's) and other processes of the cgroup spend the
 * same quota, and a fixed fractional processor cannot give their share back.  One bucket shared
 * by all processors, refilled at the rate the rest leaves over, can.
 *
 * The guarantee.  The bucket holds at most depth_ns and refills at rate_ppm millionths of a CPU,
 * so over any interval T the workers use at most depth + rate * T + the overshoot of the checks
 * (each running processor may run one check interval past an empty bucket).  With
 *     rate  = Q * (1 - h) * factor - others,
 *     depth = h/2 * Q * period   (clamped to [AP_PACE_DEPTH_MIN_NS, AP_PACE_DEPTH_MAX_NS]),
 *     check = depth / 4,
 * a period of length P sees at most Q * P (1 - h) + h/2 Q P + overshoot < Q * P: no throttling,
 * while the workers get (1 - h) of the quota.  h is AP_PACE_HEADROOM_PPM, raised where the
 * depth would be below its minimum (short periods, tiny quotas).  A paused processor resumes when
 * the bucket is half full again: bursts of depth/2 CPU, pauses of depth/2 / rate.
 *
 * Feedback.  The kernel's own counters are the judge: when cpu.stat shows throttled periods the
 * factor drops (AP_PACE_BACKOFF_PPM per throttled period, at most AP_PACE_BACKOFF_MAX_PPM a tick,
 * floor AP_PACE_FACTOR_MIN_PPM); after AP_PACE_CALM_TICKS ticks without, it climbs back by
 * AP_PACE_CLIMB_PPM a tick up to 1.  "others" is the CPU of the process's threads outside the
 * workers' accounting (an EWMA of process CPU minus worker CPU), "group" that of other
 * processes of the cgroup (its usage minus the process's).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define AP_PACE_PPM 1000000u
#define AP_PACE_HEADROOM_PPM 50000u           /* 5 % of the quota is left unused */
#define AP_PACE_DEPTH_MIN_NS 200000u          /* 0.2 ms */
#define AP_PACE_DEPTH_MAX_NS 4000000u         /* 4 ms */
#define AP_PACE_CHECK_MIN_NS 50000u
#define AP_PACE_CHECK_MAX_NS 1000000u
#define AP_PACE_RATE_MIN_PPM_OF_LIMIT 50000u  /* the workers always get 5 % of the limit */
#define AP_PACE_FACTOR_MIN_PPM 700000u
#define AP_PACE_BACKOFF_PPM 20000u
#define AP_PACE_BACKOFF_MAX_PPM 100000u
#define AP_PACE_CLIMB_PPM 5000u
#define AP_PACE_CALM_TICKS 3u

typedef struct ApPaceCtl {
        /* the limit */
        uint64_t quota_ns, period_ns;   /* 0: pacing off */
        uint64_t limit_ppm;             /* quota / period, in millionths of a CPU */
        /* derived from the limit */
        uint64_t headroom_ppm;          /* effective headroom */
        uint64_t depth_ns;
        uint64_t check_ns;              /* a processor charges its CPU at least this often */
        /* inputs */
        uint32_t factor_ppm;            /* kernel feedback; AP_PACE_PPM = 1 */
        int64_t others_ewma_ppm;        /* process CPU outside the workers (EWMA, signed) */
        uint64_t others_ppm;            /* ... and its positive part */
        uint64_t group_ppm;             /* other processes of the cgroup */
        unsigned calm_ticks;
        /* the bucket */
        uint64_t rate_ppm;              /* what the workers may use */
        int64_t tokens_ns;              /* may go below 0 by the overshoot */
        uint64_t last_ns;               /* of the last refill */
} ApPaceCtl;

/* Pacing off, factor 1. */
void ap_pace_ctl_init(ApPaceCtl *c);
/* Set the limit (quota_ns 0 or period_ns 0: off) at time @now.  The bucket starts full on a
 * change from off; on a change of the limit it keeps its level (clamped to the new depth). */
void ap_pace_ctl_set_limit(ApPaceCtl *c, uint64_t quota_ns, uint64_t period_ns, uint64_t now);
static inline bool ap_pace_ctl_on(const ApPaceCtl *c)
{
        return c->limit_ppm > 0;
}
/* Charge @used_ns of worker CPU at @now.  @retval ns to pause before running on (0: go on). */
uint64_t ap_pace_ctl_charge(ApPaceCtl *c, uint64_t now, uint64_t used_ns);
/* How long to pause from @now without charging anything (re-check after a pause). */
uint64_t ap_pace_ctl_wait(ApPaceCtl *c, uint64_t now);
/* @others_ns of process CPU outside the workers over @interval_ns (an EWMA sample; may be
 * negative when workers' charges lag behind the process clock). */
void ap_pace_ctl_others(ApPaceCtl *c, int64_t others_ns, uint64_t interval_ns);
/* @group_ns of cgroup CPU outside the process over @interval_ns (taken as it is). */
void ap_pace_ctl_group(ApPaceCtl *c, uint64_t group_ns, uint64_t interval_ns);
/* One feedback tick: @throttled periods of @periods were throttled since the last one. */
void ap_pace_ctl_feedback(ApPaceCtl *c, uint64_t periods, uint64_t throttled);
