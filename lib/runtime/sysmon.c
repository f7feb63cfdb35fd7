/* SPDX-License-Identifier: MIT */
/*
 * The monitor thread (Go's sysmon): it holds no P and never runs a task.  Each round it
 *   1. fires due timers,
 *   2. pushes an unfinished resize on (resize.c): moves the queued work of removed Ps out,
 *      takes removed Ps from blocking regions,
 *   3. retakes Ps left in blocking regions and hands them to other threads, and asks a task
 *      that has run for 10 ms since its dispatch to yield at its next scheduling point (Go's
 *      time slice),
 *   4. finds hogs and hands their Ps to other threads while work waits (hog.c),
 *   5. polls the netpoller when tasks wait on it and nobody polled for 10 ms (netpoll.c),
 *   6. prints the scheduler trace when AUTOPROCS_SCHEDTRACE asks for it (schedtrace.c).
 * It sleeps 50 us, doubling after 50 idle rounds up to 10 ms, and deep-sleeps (futex, until the
 * next timer deadline or without timeout) when every P is idle and nothing but timers is
 * pending, so that a program whose tasks all sleep costs one wake-up per deadline; after a
 * second of deep sleep it gives the pages of the stacks cached beyond a working set back to the
 * kernel.
 */
#include <stdlib.h>
#include <sys/prctl.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/netpoll.h"
#include "lib/runtime/runq.h"

#define SM_MIN_NS 50000u
#define SM_MAX_NS 10000000u
#define RETAKE_NS 20000u
#define TRIM_KEEP 256u
#define TRIM_AFTER_NS 1000000000ull
#define TIMER_GRACE_NS 1000000u

/* Every P runs a task: their owners fire due timers at their next scheduling point, into their
 * own queues (ap_timers_poll), which is faster than the global queue the monitor would use. */
static bool all_running(void)
{
        uint32_t np = atomic_load(&ap_sched.nprocs);

        for (uint32_t i = 0; i < np; i++) {
                ApP *p = atomic_load_explicit(&ap_sched.allp[i], AP_ACQUIRE);

                if (!p || atomic_load(&p->status) != AP_P_RUNNING)
                        return false;
        }
        return true;
}

void ap_sysmon_wake(void)
{
        atomic_fetch_add(&ap_sched.sm_wake, 1);
        ap_futex_wake(&ap_sched.sm_wake, 1);
}

static bool retake(uint64_t now)
{
        uint32_t np = atomic_load(&ap_sched.nprocs);
        bool acted = false;

        for (uint32_t i = 0; i < np; i++) {
                ApP *p = atomic_load_explicit(&ap_sched.allp[i], AP_ACQUIRE);
                uint32_t s;

                if (!p)
                        continue;
                s = atomic_load(&p->status);
                if (s == AP_P_SYSCALL) {
                        uint64_t t = atomic_load_explicit(&p->syscalltick, AP_RELAXED);

                        if (p->sm_sctick != t) {
                                p->sm_sctick = t;
                                p->sm_sctick_ns = now;
                                continue;
                        }
                        if (now - p->sm_sctick_ns < RETAKE_NS)
                                continue;
                        /* Go's rule: leave a P with nothing queued alone for a while if another
                         * thread could pick up new work anyway. */
                        if (ap_runq_empty(p) && !ap_gq_nonempty() &&
                            atomic_load(&ap_sched.nmspinning) + atomic_load(&ap_sched.npidle) > 0 &&
                            now - p->sm_sctick_ns < AP_RT_HOG_NS)
                                continue;
                        if (atomic_compare_exchange_strong(&p->status, &s, AP_P_RUNNING)) {
                                atomic_fetch_add(&ap_sched.handoffs, 1);
                                ap_handoffp(p);
                                acted = true;
                        }
                } else if (s == AP_P_RUNNING) {
                        uint64_t t = atomic_load_explicit(&p->schedtick, AP_RELAXED);

                        /* held back by pacing: not running, so not hogging either */
                        if (atomic_load_explicit(&p->paused, AP_RELAXED)) {
                                p->sm_tick = t;
                                p->sm_tick_ns = now;
                                continue;
                        }
                        if (p->sm_tick != t) {
                                p->sm_tick = t;
                                p->sm_tick_ns = now;
                                continue;
                        }
                        /* the time slice: read at the task's next scheduling point (hog.h) */
                        if (now - p->sm_tick_ns >= AP_RT_HOG_NS && atomic_load(&p->in_task) &&
                            !atomic_load_explicit(&p->preempt, AP_RELAXED))
                                atomic_store(&p->preempt, 1);
                }
        }
        return acted;
}

/* No P is held (none runs, none sits in a blocking region), no resize is pending and nothing is
 * queued globally: only timers (if any) can make work, and the monitor sleeps until the next
 * deadline.  Taking an idle P (ap_pidleget_locked), a blocking region and an earlier timer wake
 * it while sm_deep is set. */
static bool all_idle(void)
{
        uint32_t np = atomic_load(&ap_sched.nprocs);

        return atomic_load(&ap_sched.npidle) == np &&
               atomic_load(&ap_sched.req_gen) == atomic_load(&ap_sched.done_gen) &&
               !ap_gq_nonempty() && (!ap_netpoll_pending() || ap_netpoll_blocked());
}

static void *sysmon_main(void *arg)
{
        uint64_t delay = SM_MIN_NS, trace_next = ap_schedtrace_tick(ap_now_ns());
        unsigned idle = 0;

        (void)arg;
        (void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        while (!atomic_load(&ap_sched.shutdown)) {
                uint32_t seq = atomic_load(&ap_sched.sm_wake);
                uint64_t now = ap_now_ns(), next = ap_timer_next();
                bool acted, grace = false;

                if ((idle > 50 || next != UINT64_MAX) && all_idle()) {
                        atomic_store(&ap_sched.sm_deep, 1);
                        next = ap_timer_next();
                        now = ap_now_ns();
                        if (all_idle() && !atomic_load(&ap_sched.shutdown) && next > now) {
                                /* idle for TRIM_AFTER_NS: give cached stacks' pages back */
                                bool trim = ap_stack_trimmable(TRIM_KEEP);
                                uint64_t wait = trim ? TRIM_AFTER_NS : UINT64_MAX;
                                struct timespec ts;
                                uint64_t t0 = now;

                                if (next != UINT64_MAX)
                                        wait = AP_MIN(wait, next - now);
                                if (trace_next != UINT64_MAX)
                                        wait = AP_MIN(wait, trace_next > now ? trace_next - now : 0);
                                ts = ap_ns_to_ts(wait);
                                ap_futex_wait(&ap_sched.sm_wake, seq,
                                              wait != UINT64_MAX ? &ts : NULL);
                                while (trim && seq == atomic_load(&ap_sched.sm_wake) &&
                                       ap_now_ns() - t0 >= TRIM_AFTER_NS &&
                                       ap_timer_next() > ap_now_ns() &&
                                       all_idle() && !atomic_load(&ap_sched.shutdown) &&
                                       ap_stack_trim(TRIM_KEEP, 256) > 0)
                                        ;
                        }
                        atomic_store(&ap_sched.sm_deep, 0);
                } else {
                        uint64_t wait = delay;
                        struct timespec ts;

                        /* Every P busy: the Ps fire due timers at their scheduling points
                         * (ap_timers_poll), so the monitor does not wake for deadlines; it
                         * fires what a P left overdue past TIMER_GRACE_NS at its own pace
                         * (it matters for a hog).  Waking at every deadline of a 1 ms sleeper
                         * cost 0.2 CPU (pacing counts it against the quota).  sm_deep = 2
                         * makes a P that goes idle or enters a blocking region wake the monitor
                         * (Dekker's pattern with npidle). */
                        if (next != UINT64_MAX && all_running()) {
                                atomic_store(&ap_sched.sm_deep, 2);
                                grace = all_running();
                                if (!grace)
                                        atomic_store(&ap_sched.sm_deep, 0);
                        }
                        if (next != UINT64_MAX && !grace) {
                                wait = next > now ? AP_MIN(wait, next - now) : 0;
                                /* an earlier timer wakes it (timer.c; Dekker's pattern with
                                 * ap_timer_next_ns) */
                                atomic_store(&ap_sched.sm_until, now + wait);
                                if (ap_timer_next() < next)
                                        wait = 0;
                        }
                        if (trace_next != UINT64_MAX)
                                wait = trace_next > now ? AP_MIN(wait, trace_next - now) : 0;
                        if (wait > 0) {
                                ts = ap_ns_to_ts(wait);
                                ap_futex_wait(&ap_sched.sm_wake, seq, &ts);
                        }
                        atomic_store(&ap_sched.sm_until, 0);
                        if (grace)
                                atomic_store(&ap_sched.sm_deep, 0);
                }
                if (atomic_load(&ap_sched.shutdown))
                        break;
                now = ap_now_ns();
                if (grace && ap_timer_next() <= now &&
                    !atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                        atomic_store_explicit(&ap_sched.timers_due, 1, AP_RELAXED);
                /* still all busy: fire only what the Ps left overdue past the grace */
                /* Firing timers does not shorten the next sleep: the deadlines set it. */
                if (grace && all_running() && now > TIMER_GRACE_NS)
                        (void)ap_timers_run(now - TIMER_GRACE_NS);
                else
                        (void)ap_timers_run(now);
                acted = ap_resize_step(now);
                acted |= retake(now);
                acted |= ap_netpoll_sysmon(now);
                acted |= ap_hog_scan(now);
                trace_next = ap_schedtrace_tick(now);
                if (acted || seq != atomic_load(&ap_sched.sm_wake)) {
                        idle = 0;
                        delay = SM_MIN_NS;
                } else if (++idle > 50) {
                        delay = AP_MIN(delay * 2, (uint64_t)SM_MAX_NS);
                }
        }
        return NULL;
}

int ap_sysmon_start(void)
{
        int r = pthread_create(&ap_sched.sysmon, NULL, sysmon_main, NULL);

        return -r;
}

void ap_sysmon_join(void)
{
        ap_sysmon_wake();
        pthread_join(ap_sched.sysmon, NULL);
}
