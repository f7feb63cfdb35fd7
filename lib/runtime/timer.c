/* SPDX-License-Identifier: MIT */
/*
 * Timers: one global binary min-heap of sleeping tasks under a spin lock, with the earliest
 * deadline published in an atomic so that "nothing due" costs one load.  No thread is held
 * while a task sleeps: the task parks in the heap; Ms at their scheduling points (the scheduler
 * loop, yield, task exit: ap_timers_poll) and the monitor (which sleeps until the next deadline
 * at the latest) fire due timers.  A worker puts what it wakes in its own queue, the monitor on
 * the global queue.
 */
#include <stdlib.h>
#include <time.h>

#include "lib/runtime/internal.h"

typedef struct Timer {
        uint64_t when;
        ApG *g;
} Timer;

static struct {
        ApSpin lock;
        Timer *heap;
        size_t n, cap;
} tm;

_Atomic uint64_t ap_timer_next_ns = UINT64_MAX;

uint64_t ap_timer_next(void)
{
        return atomic_load_explicit(&ap_timer_next_ns, AP_ACQUIRE);
}

static void sift_up(size_t i)
{
        Timer t = tm.heap[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (tm.heap[parent].when <= t.when)
                        break;
                tm.heap[i] = tm.heap[parent];
                i = parent;
        }
        tm.heap[i] = t;
}

static void sift_down(size_t i)
{
        Timer t = tm.heap[i];

        for (;;) {
                size_t c = 2 * i + 1;

                if (c >= tm.n)
                        break;
                if (c + 1 < tm.n && tm.heap[c + 1].when < tm.heap[c].when)
                        c++;
                if (t.when <= tm.heap[c].when)
                        break;
                tm.heap[i] = tm.heap[c];
                i = c;
        }
        tm.heap[i] = t;
}

/* Park the current task until @deadline (CLOCK_MONOTONIC ns). */
void ap_timer_add(uint64_t deadline, ApG *g)
{
        bool earliest;

        ap_spin_lock(&tm.lock);
        if (tm.n == tm.cap) {
                size_t cap = tm.cap ? 2 * tm.cap : 256;
                Timer *h = realloc(tm.heap, cap * sizeof(*h));

                if (!h) {
                        /* no memory for the heap: degrade to a yield-based wait */
                        ap_spin_unlock(&tm.lock);
                        while (ap_now_ns() < deadline)
                                autoprocs_yield();
                        return;
                }
                tm.heap = h;
                tm.cap = cap;
        }
        tm.heap[tm.n] = (Timer){ .when = deadline, .g = g };
        sift_up(tm.n++);
        earliest = tm.heap[0].g == g;
        atomic_store_explicit(&ap_timer_next_ns, tm.heap[0].when, AP_SEQ_CST);
        /* only a monitor sleeping on a later deadline needs waking (sysmon.c); while every P
         * runs it leaves timers to them and sleeps on */
        if (earliest) {
                uint64_t until = atomic_load(&ap_sched.sm_until);

                if (until != 0 && deadline < until)
                        ap_sysmon_wake();
        }
        ap_park(&tm.lock);
}

/* Ready every task whose deadline is <= @now; returns how many.  @local: called by a P's owner
 * at a scheduling point (no lock held): the earliest task woken goes to the P's runnext. */
unsigned ap_timers_run_ex(uint64_t now, bool local)
{
        ApG *list = NULL, **tail = &list;
        unsigned n = 0;

        if (atomic_load_explicit(&ap_timer_next_ns, AP_ACQUIRE) > now) {
                /* a worker saw nothing due: drop a stale flag (sysmon.c) */
                if (local && atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                        atomic_store_explicit(&ap_sched.timers_due, 0, AP_RELAXED);
                return 0;
        }
        ap_spin_lock(&tm.lock);
        while (tm.n > 0 && tm.heap[0].when <= now) {
                ApG *g = tm.heap[0].g;

                tm.heap[0] = tm.heap[--tm.n];
                if (tm.n > 0)
                        sift_down(0);
                g->next = NULL;
                *tail = g;
                tail = &g->next;
                n++;
        }
        atomic_store_explicit(&ap_timer_next_ns, tm.n ? tm.heap[0].when : UINT64_MAX, AP_RELEASE);
        ap_spin_unlock(&tm.lock);
        if (atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                atomic_store_explicit(&ap_sched.timers_due, 0, AP_RELAXED);
        for (bool first = true; list; first = false) {
                ApG *g = list;

                list = g->next;
                g->next = NULL;
                /* a worker runs the earliest next, the others follow in deadline order behind
                 * the queued work (so a batch fired late still wakes in order) */
                ap_ready_ex(g, local && first);
        }
        return n;
}

unsigned ap_timers_run(uint64_t now)
{
        return ap_timers_run_ex(now, false);
}

void ap_timers_fini(void)
{
        free(tm.heap);
        tm.heap = NULL;
        tm.n = tm.cap = 0;
        atomic_store(&ap_timer_next_ns, UINT64_MAX);
}

AUTOPROCS_API void autoprocs_sleep_ns(uint64_t ns)
{
        ApM *m = ap_cur_m();

        if (!m || !m->curg || !m->p) {
                struct timespec ts = ap_ns_to_ts(ns);

                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                return;
        }
        if (ns == 0) {
                autoprocs_yield();
                return;
        }
        {
                uint64_t now = ap_now_ns();

                ap_timer_add(ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns, m->curg);
        }
}
