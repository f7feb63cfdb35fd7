/* SPDX-License-Identifier: MIT */
/*
 * Timers: one global binary min-heap under a spin lock, with the earliest deadline published in
 * an atomic so that "nothing due" costs one load.  An entry is a sleeping task (readied when
 * due) or a callback with an argument and a sequence number (the netpoller's deadlines); a
 * callback timer has an owner record that tracks its heap slot, so that it can be stopped in
 * O(log n) before it fires.  No thread is held while a task sleeps: the task parks in the heap;
 * Ms at their scheduling points (the scheduler loop, yield, task exit: ap_timers_poll) and the
 * monitor (which sleeps until the next deadline at the latest) fire due timers.  A worker puts
 * what it wakes in its own queue, the monitor on the global queue.
 */
#include <stdlib.h>
#include <time.h>

#include "lib/runtime/hog.h"
#include "lib/runtime/internal.h"

typedef struct Timer {
        uint64_t when;
        ApG *g;                 /* a sleeping task, or NULL for a callback */
        ApTimerFn fn;
        void *arg;
        uint64_t seq;
        ApTimer *owner;         /* callback timers: its idx follows the entry */
} Timer;

#define FIRE_BATCH 64u

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

static void place(size_t i, Timer t)
{
        tm.heap[i] = t;
        if (t.owner)
                t.owner->idx = (int64_t)i;
}

static size_t sift_up(size_t i)
{
        Timer t = tm.heap[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (tm.heap[parent].when <= t.when)
                        break;
                place(i, tm.heap[parent]);
                i = parent;
        }
        place(i, t);
        return i;
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
                place(i, tm.heap[c]);
                i = c;
        }
        place(i, t);
}

/* Remove entry @i (under tm.lock). */
static void heap_remove(size_t i)
{
        if (tm.heap[i].owner)
                tm.heap[i].owner->idx = -1;
        if (--tm.n == i)
                return;
        place(i, tm.heap[tm.n]);
        if (i > 0 && tm.heap[(i - 1) / 2].when > tm.heap[i].when)
                (void)sift_up(i);
        else
                sift_down(i);
}

static void publish_next(void)
{
        atomic_store_explicit(&ap_timer_next_ns, tm.n ? tm.heap[0].when : UINT64_MAX, AP_RELEASE);
}

/* Grow the heap for one more entry (under tm.lock).  False without memory. */
static bool heap_reserve(void)
{
        size_t cap;
        Timer *h;

        if (tm.n < tm.cap)
                return true;
        cap = tm.cap ? 2 * tm.cap : 256;
        h = realloc(tm.heap, cap * sizeof(*h));
        if (!h)
                return false;
        tm.heap = h;
        tm.cap = cap;
        return true;
}

/* Insert @t (under tm.lock); wakes the monitor when it is the earliest. */
static void heap_push(Timer t)
{
        size_t i;

        tm.heap[tm.n] = t;
        i = sift_up(tm.n++);
        atomic_store_explicit(&ap_timer_next_ns, tm.heap[0].when, AP_SEQ_CST);
        /* only a monitor sleeping on a later deadline needs waking (sysmon.c); while every P
         * runs it leaves timers to them and sleeps on */
        if (i == 0) {
                uint64_t until = atomic_load(&ap_sched.sm_until);

                if (until != 0 && t.when < until)
                        ap_sysmon_wake();
        }
}

int ap_timer_start(ApTimer *timer, uint64_t when, ApTimerFn fn, void *arg, uint64_t seq)
{
        ap_spin_lock(&tm.lock);
        if (timer->idx >= 0)
                heap_remove((size_t)timer->idx);
        if (!heap_reserve()) {
                publish_next();
                ap_spin_unlock(&tm.lock);
                return -ENOMEM;
        }
        heap_push((Timer){ .when = when, .fn = fn, .arg = arg, .seq = seq, .owner = timer });
        ap_spin_unlock(&tm.lock);
        return 0;
}

bool ap_timer_stop(ApTimer *timer)
{
        bool removed = false;

        if (atomic_load_explicit(&ap_timer_next_ns, AP_ACQUIRE) == UINT64_MAX)
                return false; /* nothing pending at all */
        ap_spin_lock(&tm.lock);
        if (timer->idx >= 0) {
                heap_remove((size_t)timer->idx);
                publish_next();
                removed = true;
        }
        ap_spin_unlock(&tm.lock);
        return removed;
}

/* Park the current task until @deadline (CLOCK_MONOTONIC ns). */
void ap_timer_add(uint64_t deadline, ApG *g)
{
        ap_spin_lock(&tm.lock);
        if (!heap_reserve()) {
                /* no memory for the heap: degrade to a yield-based wait */
                ap_spin_unlock(&tm.lock);
                while (ap_now_ns() < deadline)
                        autoprocs_yield();
                return;
        }
        heap_push((Timer){ .when = deadline, .g = g });
        ap_park(&tm.lock);
}

/* Ready every task whose deadline is <= @now; returns how many.  @local: called by a P's owner
 * at a scheduling point (no lock held): the earliest task woken goes to the P's runnext. */
unsigned ap_timers_run_ex(uint64_t now, bool local)
{
        Timer batch[FIRE_BATCH];
        unsigned n = 0;
        bool more;

        if (atomic_load_explicit(&ap_timer_next_ns, AP_ACQUIRE) > now) {
                /* a worker saw nothing due: drop a stale flag (sysmon.c) */
                if (local && atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                        atomic_store_explicit(&ap_sched.timers_due, 0, AP_RELAXED);
                return 0;
        }
        do {
                unsigned k = 0;

                /* Copies of the due entries: a callback timer's owner may start it again as
                 * soon as the lock is released. */
                ap_spin_lock(&tm.lock);
                while (tm.n > 0 && tm.heap[0].when <= now && k < FIRE_BATCH) {
                        batch[k++] = tm.heap[0];
                        heap_remove(0);
                }
                more = tm.n > 0 && tm.heap[0].when <= now;
                publish_next();
                ap_spin_unlock(&tm.lock);
                for (unsigned i = 0; i < k; i++) {
                        /* a worker runs the earliest next, the others follow in deadline order
                         * behind the queued work (so a batch fired late still wakes in order) */
                        bool next = local && n == 0 && i == 0;

                        if (batch[i].g)
                                ap_ready_ex(batch[i].g, next);
                        else
                                batch[i].fn(batch[i].arg, batch[i].seq, next);
                }
                n += k;
        } while (more);
        if (atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                atomic_store_explicit(&ap_sched.timers_due, 0, AP_RELAXED);
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

static void sleep_ns(ApM *m, uint64_t ns)
{
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

AUTOPROCS_API void autoprocs_sleep_ns(uint64_t ns)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        sleep_ns(m, ns);
        ap_rt_exit(rt);
}
