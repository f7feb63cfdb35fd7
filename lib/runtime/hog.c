/* SPDX-License-Identifier: MIT */
/*
 * Hogs: a task that has not reached a scheduling point (any call into the task API, hog.h) for
 * 10 ms of its thread's CPU time.  CPU time, not wall time, so that kernel preemption and CFS
 * throttling never look like hogging: the monitor reads the thread's CPU clock
 * (pthread_getcpuclockid) only once a thread's rt_tick has stood still for 1 ms of wall time,
 * keeps that reading as a baseline and calls the task a hog when the clock has moved 10 ms past
 * it.  A hog is counted (stats.hogs) and reported through the log callback, at most once a
 * minute per task with the count of the hogs not reported.
 *
 * Hand-off (Go's retake/handoffp for a running P, without asynchronous preemption): while work
 * waits behind a hog (its P's queue, the global queue) or a resize removes its P, the monitor
 * takes the P away from the hog's thread and hands it to another thread; the hog keeps running
 * on its own thread without a P and rejoins at its next scheduling point (an idle P, else it
 * queues itself globally and its thread parks).  Nothing switches the hog asynchronously: it may
 * hold libc locks or use TLS.  The protocol, Dekker's with an asymmetric fence:
 *   monitor:  revoke = ASKED; membarrier(PRIVATE_EXPEDITED); tick unchanged?  CAS ASKED->TAKEN
 *   thread:   tick = odd (compiler barrier only); revoke != NONE?  CAS ASKED->NONE, or TAKEN
 * so either the monitor sees the thread enter the runtime (and cancels) or the thread sees the
 * request before it touches its P.  The threads that run a hog without a P are counted
 * (ap_sched.hog_threads, stats.hog_threads) and bounded: at most one per processor.  Without
 * membarrier() (a kernel before 4.14, a seccomp filter) hogs are only reported and the work
 * queued on their P moves to the global queue.
 */
#include <linux/membarrier.h>
#include <stdio.h>
#include <string.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/runq.h"

#define HOG_BASE_NS 1000000u            /* a tick standing still this long gets a baseline */
#define HOG_REPORT_NS 60000000000ull    /* one report per task per minute */
#define HOG_REPORTS 256u

typedef struct HogReport {
        uint64_t id;            /* 0: free */
        uint64_t at_ns;         /* last report */
        uint32_t unreported;    /* hogs since */
} HogReport;

/* monitor-private */
static HogReport reports[HOG_REPORTS];
static bool have_membarrier;

int ap_hog_init(void)
{
        memset(reports, 0, sizeof(reports));
        have_membarrier = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
                                  0) == 0;
        return 0;
}

/* On the M's own thread before it takes a P: the scheduler is runtime code (odd tick). */
void ap_hog_m_init(ApM *m)
{
        clockid_t c;

        atomic_store_explicit(&m->rt_tick, 1, AP_RELAXED);
        if (pthread_getcpuclockid(pthread_self(), &c) == 0) {
                atomic_store_explicit(&m->cpuclock, c, AP_RELAXED);
                atomic_store_explicit(&m->has_cpuclock, true, AP_RELEASE);
        }
}

static bool thread_cpu_ns(ApM *m, uint64_t *ret)
{
        return atomic_load_explicit(&m->has_cpuclock, AP_ACQUIRE) &&
               ap_clock_read_ns(atomic_load_explicit(&m->cpuclock, AP_RELAXED), ret) == 0;
}

/* ---- reports ---------------------------------------------------------------------------------- */

static HogReport *report_slot(uint64_t id)
{
        HogReport *oldest = &reports[0];

        for (unsigned i = 0; i < HOG_REPORTS; i++) {
                if (reports[i].id == id)
                        return &reports[i];
                if (reports[i].at_ns < oldest->at_ns)
                        oldest = &reports[i];
        }
        *oldest = (HogReport){ .id = id };
        return oldest;
}

static void hog_report(ApP *p, uint64_t cpu_ns, uint64_t now)
{
        uint64_t id = atomic_load_explicit(&p->cur_task, AP_RELAXED);
        HogReport *r = report_slot(id);
        char more[64] = "";

        atomic_fetch_add(&ap_sched.hogs, 1);
        if (r->at_ns != 0 && now - r->at_ns < HOG_REPORT_NS) {
                r->unreported++;
                return;
        }
        if (r->unreported > 0)
                snprintf(more, sizeof(more), " (and %u more times in the last minute)",
                         r->unreported);
        r->at_ns = now;
        r->unreported = 0;
        ap_log(AUTOPROCS_LOG_WARNING, "hog",
               "task %llu ran %llu ms of CPU time on processor %u without a scheduling point%s",
               (unsigned long long)id, (unsigned long long)(cpu_ns / 1000000u), p->id, more);
}

/* ---- hand-off ------------------------------------------------------------------------------- */

/* Take @p from @m, which runs a hog whose rt_tick has stood at @tick; true if handed off. */
static bool hog_handoff(ApP *p, ApM *m, uint64_t tick)
{
        uint32_t v = AP_REVOKE_NONE;

        if (!have_membarrier ||
            atomic_load(&ap_sched.hog_threads) >= atomic_load(&ap_sched.nprocs))
                return false;
        if (!atomic_compare_exchange_strong(&m->revoke, &v, AP_REVOKE_ASKED))
                return false;
        /* every thread of the process passes a full barrier: if m enters the runtime after
         * this, it sees ASKED; if it entered before, we see its tick move */
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) < 0 ||
            atomic_load_explicit(&m->rt_tick, AP_ACQUIRE) != tick) {
                v = AP_REVOKE_ASKED;
                (void)atomic_compare_exchange_strong(&m->revoke, &v, AP_REVOKE_NONE);
                return false;
        }
        v = AP_REVOKE_ASKED;
        if (!atomic_compare_exchange_strong(&m->revoke, &v, AP_REVOKE_TAKEN))
                return false; /* it entered the runtime and kept its P */
        atomic_fetch_add(&ap_sched.hog_threads, 1);
        atomic_fetch_add(&ap_sched.hog_handoffs, 1);
        atomic_store_explicit(&p->m, NULL, AP_RELAXED);
        atomic_store_explicit(&p->in_task, 0, AP_RELAXED);
        ap_handoffp(p);
        return true;
}

void ap_hog_rejoin(ApM *m)
{
        uint32_t v = AP_REVOKE_ASKED;

        /* asked but not taken yet: this call is the scheduling point, the P stays */
        if (atomic_compare_exchange_strong(&m->revoke, &v, AP_REVOKE_NONE) ||
            v != AP_REVOKE_TAKEN)
                return;
        m->p = NULL;
        atomic_store_explicit(&m->revoke, AP_REVOKE_NONE, AP_RELAXED);
        atomic_fetch_sub(&ap_sched.hog_threads, 1);
        ap_task_rejoin(m);
}

void ap_hog_kick(void)
{
        if (atomic_load_explicit(&ap_sched.hogs_now, AP_RELAXED) != 0 &&
            !atomic_load_explicit(&ap_sched.hog_kick, AP_RELAXED) &&
            !atomic_exchange(&ap_sched.hog_kick, 1))
                ap_sysmon_wake();
}

/* ---- the monitor's round -------------------------------------------------------------------- */

static void watch_reset(ApHogWatch *w, ApM *m, uint64_t tick, uint64_t now)
{
        *w = (ApHogWatch){ .m = m, .tick = tick, .read_ns = now + HOG_BASE_NS,
                           .cpu0_ns = UINT64_MAX };
}

/* One P: is its task a hog (a new one: counted and reported), and does work wait behind it? */
static bool watch_p(ApP *p, uint64_t now, bool *ret_hog)
{
        ApHogWatch *w = &p->hw;
        ApM *m = atomic_load_explicit(&p->m, AP_ACQUIRE);
        uint64_t t, cpu = 0;
        bool acted = false;

        *ret_hog = false;
        if (!m || atomic_load(&p->status) != AP_P_RUNNING) {
                watch_reset(w, NULL, 0, now);
                return false;
        }
        t = atomic_load_explicit(&m->rt_tick, AP_ACQUIRE);
        if (m != w->m || t != w->tick) {
                watch_reset(w, m, t, now);
                return false;
        }
        if (t & 1)
                return false; /* runtime code: the scheduler, or a call into the API */
        if (!w->hog) {
                /* the clock is a system call: read it when a hog is first possible, i.e.
                 * once HOG_BASE_NS passed and, with a baseline, when the CPU time left to
                 * AP_RT_HOG_NS could have been used (it never runs faster than wall time) */
                if (now < w->read_ns || !thread_cpu_ns(m, &cpu))
                        return false;
                if (w->cpu0_ns == UINT64_MAX)
                        w->cpu0_ns = cpu;
                if (cpu - w->cpu0_ns < AP_RT_HOG_NS) {
                        w->read_ns = now + (AP_RT_HOG_NS - (cpu - w->cpu0_ns));
                        return false;
                }
                w->hog = true;
                hog_report(p, cpu - w->cpu0_ns, now);
                atomic_store(&p->preempt, 1);
                acted = true;
        }
        *ret_hog = true;
        if (ap_runq_empty(p) && !ap_gq_nonempty() && !atomic_load(&p->retire))
                return acted;
        if (hog_handoff(p, m, t)) {
                watch_reset(w, NULL, 0, now);
                *ret_hog = false;
                return true;
        }
        /* no hand-off: at least its queued work moves on, every round while it hogs */
        if (!ap_runq_empty(p)) {
                ap_p_drain_to_global(p);
                ap_wakep();
                acted = true;
        }
        return acted;
}

bool ap_hog_scan(uint64_t now)
{
        uint32_t maxp = atomic_load(&ap_sched.maxp), hogs = 0;
        bool acted = false;

        atomic_store_explicit(&ap_sched.hog_kick, 0, AP_RELAXED);
        for (uint32_t i = 0; i < maxp; i++) {
                ApP *p = atomic_load_explicit(&ap_sched.allp[i], AP_ACQUIRE);
                bool hog;

                if (!p)
                        continue;
                acted |= watch_p(p, now, &hog);
                hogs += hog;
        }
        atomic_store_explicit(&ap_sched.hogs_now, hogs, AP_RELAXED);
        return acted;
}
