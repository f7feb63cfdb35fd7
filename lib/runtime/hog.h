/* SPDX-License-Identifier: MIT */
/*
 * Calls into the runtime: every public task-API function (spawn, join, yield, checkpoint,
 * sleep, channel, wait-group and mutex operations, blocking regions) is a scheduling point.  It
 * brackets its work with ap_rt_enter()/ap_rt_exit(), which flip the thread's rt_tick: odd while
 * the thread runs runtime code (the scheduler, or a call into the API), even while a task runs
 * its own code.  The monitor (hog.c) reads the tick to find hogs (a tick that stays even for
 * 10 ms of the thread's CPU time) and to take a hog's processor away safely: a processor is
 * only ever touched by runtime code, and the monitor takes it only when the tick has not moved
 * since it asked (Dekker's pattern; this side pays a compiler barrier, the monitor a
 * membarrier()).  On entry a thread whose processor was taken rejoins (ap_hog_rejoin) and a task
 * asked to yield (its time slice ran out, or a resize removes its processor) yields, before
 * anything touches the processor.
 *
 * Code inside lib/runtime/ never calls the public entry points of other files for internal
 * work; when it does (a callback run by the runtime that calls in), the inner call sees an odd
 * tick and leaves it alone.
 */
#pragma once

#include "lib/runtime/internal.h"

/* Enter the runtime from a task (no-op outside one).  *ret_m: the current M afterwards (the
 * task may have moved to another thread).  Returns whether this call flipped the tick (pass it
 * to ap_rt_exit). */
static inline bool ap_rt_enter(ApM **ret_m)
{
        ApM *m = ap_cur_m();
        uint64_t t;

        *ret_m = m;
        if (!m)
                return false;
        t = atomic_load_explicit(&m->rt_tick, AP_RELAXED);
        if (t & 1)
                return false;
        atomic_store_explicit(&m->rt_tick, t + 1, AP_RELAXED);
        /* the store above before the loads below: the CPU fence is the monitor's membarrier() */
        atomic_signal_fence(memory_order_seq_cst);
        if (AP_UNLIKELY(atomic_load_explicit(&m->revoke, AP_ACQUIRE) != AP_REVOKE_NONE ||
                        (m->p && atomic_load_explicit(&m->p->preempt, AP_RELAXED)))) {
                ap_rt_enter_slow(m);
                *ret_m = ap_cur_m();
        }
        return true;
}

/* Leave the runtime back to the task's own code (@outer: what ap_rt_enter returned).  The
 * release pairs with the monitor's acquire of the tick: what this thread did to its P happens
 * before the monitor hands the P to another thread. */
static inline void ap_rt_exit(bool outer)
{
        ApM *m;

        if (!outer)
                return;
        m = ap_cur_m();
        atomic_store_explicit(&m->rt_tick, atomic_load_explicit(&m->rt_tick, AP_RELAXED) + 1,
                              AP_RELEASE);
}
