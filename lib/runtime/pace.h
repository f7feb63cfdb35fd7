/* SPDX-License-Identifier: MIT */
/*
 * Fractional pacing, the runtime side (pace.c): the shared token bucket (pace-ctl.h) fed from the
 * worker threads' CPU clocks at their scheduling points, the hold-back of a worker when the bucket
 * is empty, and a per-thread CPU-clock timer whose signal handler holds back a task that reaches
 * no scheduling point.  Only files of lib/runtime/ include this header.
 *
 * Locks and signals.  A thread holding a runtime lock (any ApSpin, the scheduler mutex) is never
 * held back by the signal: the handler sees a lock count in ap_tls_locks, sets its
 * AP_TLS_PACE_DEFERRED bit and returns; the unlock that brings the count to 0 runs the deferred
 * check (internal.h).  The handler touches no
 * queue and no runtime state but the P's `paused` flag and the pacing counters (atomics); it calls
 * only clock_gettime, futex and timer_settime, all async-signal-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/pace-ctl.h"

typedef struct ApPace {
        _Atomic uint32_t on;            /* the fast path's flag */
        _Atomic uint64_t check_ns;      /* ctl.check_ns, for the lock-free fast path */
        _Atomic uint32_t gen;           /* futex word of held threads: bumped to wake them */
        ApSpin lock;                    /* ctl and the sampling state below */
        ApPaceCtl ctl;
        uint64_t charged_ns;            /* worker CPU charged so far */
        uint64_t sample_ns;             /* when "others" was sampled last (monotonic) */
        uint64_t sample_proc_ns, sample_charged_ns;
        uint64_t fb_periods, fb_throttled, fb_usage_ns, fb_proc_ns, fb_ns;
        bool fb_valid;
        bool sig_ready;                 /* the SIGURG handler is installed */
        _Atomic uint64_t held_ns, holds, signal_holds, throttled_seen;
} ApPace;

extern ApPace ap_pace;


/* A scheduling point of @m: charge its CPU now and then, hold it back while the bucket is
 * empty.  One relaxed load while pacing is off. */
void ap_pace_point_slow(ApM *m);
static inline void ap_pace_point(ApM *m)
{
        if (AP_LIKELY(!atomic_load_explicit(&ap_pace.on, AP_RELAXED)))
                return;
        ap_pace_point_slow(m);
}
/* The unlock that left no runtime lock held found a deferred hold-back. */
void ap_pace_deferred(void);

/* Thread start and end of a worker M (its CPU-clock baseline and timer). */
void ap_pace_m_start(ApM *m);
void ap_pace_m_stop(ApM *m);
/* Before an M parks: charge what it used, without holding it back. */
void ap_pace_m_flush(ApM *m);
/* Runtime start and stop. */
void ap_pace_init(void);
void ap_pace_fini(void);
/* Fill the pacing part of a stats snapshot. */
void ap_pace_stats(autoprocs_stats *s);
