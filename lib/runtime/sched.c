/* SPDX-License-Identifier: MIT */
/*
 * The G-M-P scheduler: worker threads (M) run tasks (G) while holding a processor (P).  This
 * file holds the threads and processors: the global queue, stealing, the idle lists, starting
 * and parking Ms (wakep/startm/stopm, Go's protocol: at most one spinning M is started per
 * wakeup, a spinner that finds work wakes the next one), and each M's scheduler context (g0,
 * the thread's own stack) running find_runnable(): timers, the global queue every 61st tick,
 * runnext and the ring, a global batch, stealing with bounded spinning, then it gives the P
 * back, re-checks every queue (no lost wakeup) and parks on a futex.  A P flagged by a resize
 * is retired here by its owner.  Tasks and switching are in task.c, the monitor in sysmon.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/arch.h"
#include "lib/runtime/fiber.h"
#include "lib/runtime/internal.h"
#include "lib/runtime/netpoll.h"
#include "lib/runtime/pace.h"
#include "lib/runtime/runq.h"

#define SPIN_NS 20000u
#define SPIN_POLL_EVERY 8

ApSched ap_sched;
static __thread ApM *tls_m;

#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noinline, noipa))
#endif
ApM *ap_cur_m(void)
{
        ApM *m = tls_m;

        __asm__ __volatile__("" ::: "memory");
        return m;
}

void ap_log(autoprocs_log_level level, const char *event, const char *fmt, ...)
{
        char buf[256];
        va_list ap;

        if (!ap_sched.log_fn)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        ap_sched.log_fn(level, event, buf, ap_sched.log_userdata);
}

/* ---- global queue --------------------------------------------------------------------------- */

void ap_gq_put_list(ApG *head, ApG *tail, uint32_t n)
{
        tail->next = NULL;
        ap_spin_lock(&ap_sched.gq_lock);
        if (ap_sched.gq_tail)
                ap_sched.gq_tail->next = head;
        else
                ap_sched.gq_head = head;
        ap_sched.gq_tail = tail;
        atomic_store_explicit(&ap_sched.gq_size,
                              atomic_load_explicit(&ap_sched.gq_size, AP_RELAXED) + n, AP_RELAXED);
        ap_spin_unlock(&ap_sched.gq_lock);
}

void ap_gq_put(ApG *g)
{
        ap_gq_put_list(g, g, 1);
}

/* ---- stealing ------------------------------------------------------------------------------- */

uint32_t ap_runq_grab(ApP *p, ApG **batch, bool stealnext)
{
        for (;;) {
                uint32_t h = atomic_load_explicit(&p->head, AP_ACQUIRE);
                uint32_t t = atomic_load_explicit(&p->tail, AP_ACQUIRE);
                uint32_t n = t - h;

                n -= n / 2;
                if (n == 0) {
                        ApG *rn;

                        if (!stealnext)
                                return 0;
                        rn = atomic_load_explicit(&p->runnext, AP_ACQUIRE);
                        if (!rn)
                                return 0;
                        /* Let a running owner schedule its hand-off first (a sleep would cost
                         * 50-100 us on this kind of VM, so spin briefly instead). */
                        if (atomic_load_explicit(&p->status, AP_RELAXED) == AP_P_RUNNING)
                                for (int i = 0; i < 2000; i++)
                                        ap_cpu_relax();
                        if (!atomic_compare_exchange_strong_explicit(&p->runnext, &rn, NULL,
                                                                     AP_ACQ_REL, AP_RELAXED))
                                continue;
                        batch[0] = rn;
                        return 1;
                }
                if (n > AP_RT_RING / 2)
                        continue; /* inconsistent snapshot */
                for (uint32_t i = 0; i < n; i++)
                        batch[i] = atomic_load_explicit(&p->slots[(h + i) % AP_RT_RING], AP_RELAXED);
                if (atomic_compare_exchange_strong_explicit(&p->head, &h, h + n, AP_RELEASE,
                                                            AP_RELAXED))
                        return n;
        }
}

static ApG *runq_steal(ApP *p, ApP *victim, bool stealnext)
{
        ApG *batch[AP_RT_RING / 2];
        uint32_t n = ap_runq_grab(victim, batch, stealnext), t;

        if (n == 0)
                return NULL;
        t = atomic_load_explicit(&p->tail, AP_RELAXED);
        for (uint32_t i = 0; i + 1 < n; i++)
                atomic_store_explicit(&p->slots[(t + i) % AP_RT_RING], batch[i], AP_RELAXED);
        if (n > 1)
                atomic_store_explicit(&p->tail, t + n - 1, AP_RELEASE);
        return batch[n - 1];
}

void ap_p_drain_to_global(ApP *p)
{
        ApG *batch[AP_RT_RING / 2];
        uint32_t n;

        while ((n = ap_runq_grab(p, batch, true)) > 0) {
                for (uint32_t i = 0; i + 1 < n; i++)
                        batch[i]->next = batch[i + 1];
                ap_gq_put_list(batch[0], batch[n - 1], n);
        }
}

static uint32_t fastrand(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return (uint32_t)(*s >> 16);
}

static ApG *steal_work(ApM *m)
{
        ApP *p = m->p;
        uint32_t np = atomic_load_explicit(&ap_sched.nprocs, AP_ACQUIRE);

        for (int pass = 0; pass < 4; pass++) {
                uint32_t start = fastrand(&m->rand) % np;

                for (uint32_t i = 0; i < np; i++) {
                        ApP *v = atomic_load_explicit(&ap_sched.allp[(start + i) % np], AP_ACQUIRE);
                        ApG *g;

                        if (!v || v == p)
                                continue;
                        if (atomic_load_explicit(&ap_sched.shutdown, AP_RELAXED))
                                return NULL;
                        g = runq_steal(p, v, pass == 3);
                        if (g) {
                                ap_stat_inc(&p->n_steals);
                                return g;
                        }
                }
                if (ap_gq_nonempty())
                        return ap_gq_get(p, AP_RT_RING / 2);
        }
        return NULL;
}

/* ---- idle lists (under ap_sched.lock) ------------------------------------------------------- */

ApP *ap_pidleget_locked(void)
{
        ApP *p = ap_sched.pidle;

        if (!p)
                return NULL;
        ap_sched.pidle = p->idle_next;
        p->idle_next = NULL;
        atomic_store(&p->status, AP_P_RUNNING);
        atomic_fetch_sub(&ap_sched.npidle, 1);
        if (atomic_load(&ap_sched.sm_deep))
                ap_sysmon_wake();
        return p;
}

void ap_pidleput_locked(ApP *p)
{
        atomic_store_explicit(&p->m, NULL, AP_RELAXED);
        atomic_store_explicit(&p->in_task, 0, AP_RELAXED);
        if (p->id >= atomic_load_explicit(&ap_sched.nprocs, AP_RELAXED)) {
                atomic_store(&p->retire, 0);
                atomic_store(&p->status, AP_P_DEAD);
                ap_resize_try_complete_locked();
                return;
        }
        atomic_store(&p->status, AP_P_IDLE);
        p->idle_next = ap_sched.pidle;
        ap_sched.pidle = p;
        atomic_fetch_add(&ap_sched.npidle, 1);
        /* the monitor left due timers to busy Ps (sysmon.c): this one no longer fires them */
        if (atomic_load(&ap_sched.sm_deep) == 2)
                ap_sysmon_wake();
}

void ap_acquirep(ApM *m, ApP *p)
{
        m->p = p;
        atomic_store_explicit(&p->m, m, AP_RELEASE); /* the monitor reads m's fields (hog.c) */
}

/* ---- threads -------------------------------------------------------------------------------- */

static void *m_main(void *arg);

static int newm(ApP *p, bool spinning)
{
        pthread_attr_t attr;
        ApM *m;
        uint32_t n = atomic_load(&ap_sched.nthreads);
        int r;

        for (;;) {
                if (n >= ap_sched.max_threads) {
                        uint64_t now = ap_now_ns(), last;

                        atomic_fetch_add(&ap_sched.cap_hits, 1);
                        last = atomic_load(&ap_sched.cap_logged_ns);
                        if ((last == 0 || now - last > 1000000000u) &&
                            atomic_compare_exchange_strong(&ap_sched.cap_logged_ns, &last, now))
                                ap_log(AUTOPROCS_LOG_ERR, "thread-cap",
                                       "runtime thread cap of %u reached: work waits for a "
                                       "thread to come back from a blocking region",
                                       ap_sched.max_threads);
                        return -EAGAIN;
                }
                if (atomic_compare_exchange_weak(&ap_sched.nthreads, &n, n + 1))
                        break;
        }
        for (uint32_t pk = atomic_load(&ap_sched.nthreads_peak);
             n + 1 > pk && !atomic_compare_exchange_weak(&ap_sched.nthreads_peak, &pk, n + 1);)
                ;
        m = calloc(1, sizeof(*m));
        if (!m) {
                atomic_fetch_sub(&ap_sched.nthreads, 1);
                return -ENOMEM;
        }
        atomic_store(&m->nextp, p);
        m->start_spinning = spinning;
        ap_sched_lock();
        m->id = ++ap_sched.next_mid;
        m->rand = 0x9e3779b97f4a7c15ull * m->id;
        m->all_next = ap_sched.allm;
        ap_sched.allm = m;
        ap_sched_unlock();

        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (AP_TSAN || AP_ASAN) ? 4u << 20 : 256u << 10);
        r = pthread_create(&m->thread, &attr, m_main, m);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                /* leave the M on allm, marked as never started */
                m->thread = 0;
                atomic_store(&m->nextp, NULL);
                atomic_fetch_sub(&ap_sched.nthreads, 1);
                return -r;
        }
        return 0;
}

static void startm(ApP *p, bool spinning)
{
        ApM *m;

        ap_sched_lock();
        if (!p) {
                p = ap_pidleget_locked();
                if (!p) {
                        ap_sched_unlock();
                        if (spinning)
                                atomic_fetch_sub(&ap_sched.nmspinning, 1);
                        return;
                }
        }
        m = ap_sched.midle;
        if (m) {
                ap_sched.midle = m->idle_next;
                atomic_fetch_sub(&ap_sched.nmidle, 1);
        } else if ((m = ap_sched.poll_m) && !atomic_load(&m->nextp)) {
                /* The M blocked in the poller takes the P: no new thread.  It stays poll_m
                 * until it is back (netpoll_block), so that no second M blocks in epoll_wait
                 * and takes the break meant for it. */
                m->start_spinning = spinning;
                atomic_store(&m->nextp, p);
                ap_sched_unlock();
                ap_netpoll_break();
                return;
        } else {
                m = NULL;
        }
        ap_sched_unlock();
        if (!m) {
                if (newm(p, spinning) == 0)
                        return;
                ap_p_drain_to_global(p);
                ap_sched_lock();
                ap_pidleput_locked(p);
                ap_sched_unlock();
                if (spinning)
                        atomic_fetch_sub(&ap_sched.nmspinning, 1);
                return;
        }
        m->start_spinning = spinning;
        atomic_store(&m->nextp, p);
        atomic_store_explicit(&m->park, 1, AP_RELEASE);
        ap_futex_wake(&m->park, 1);
}

void ap_wakep(void)
{
        uint32_t z = 0;

        /* StoreLoad: the work just queued must be visible before we look for idle Ps, as an M
         * giving up its P bumps npidle before re-checking every queue (Dekker's pattern). */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&ap_sched.npidle) == 0) {
                ap_hog_kick(); /* a hog's P may be handed to this work */
                return;
        }
        if (atomic_load(&ap_sched.nmspinning) != 0 ||
            !atomic_compare_exchange_strong(&ap_sched.nmspinning, &z, 1))
                return;
        startm(NULL, true);
}

/* Hand a P nobody runs (taken from a blocking region) to a thread, or idle it. */
void ap_handoffp(ApP *p)
{
        if (p->id >= atomic_load(&ap_sched.nprocs) || atomic_load(&p->retire)) {
                ap_p_drain_to_global(p);
                ap_sched_lock();
                ap_pidleput_locked(p);
                ap_sched_unlock();
                ap_wakep();
                return;
        }
        if (!ap_runq_empty(p) || ap_gq_nonempty()) {
                startm(p, false);
                return;
        }
        ap_sched_lock();
        ap_pidleput_locked(p);
        ap_sched_unlock();
}

/* Park this M until startm() hands it a P (or shutdown). */
static void stopm(ApM *m)
{
        ap_sched_lock();
        if (atomic_load(&ap_sched.shutdown)) {
                ap_sched_unlock();
                return;
        }
        m->idle_next = ap_sched.midle;
        ap_sched.midle = m;
        atomic_fetch_add(&ap_sched.nmidle, 1);
        ap_sched_unlock();
        ap_pace_m_flush(m);
        while (atomic_load_explicit(&m->park, AP_ACQUIRE) == 0)
                ap_futex_wait(&m->park, 0, NULL);
        atomic_store_explicit(&m->park, 0, AP_RELAXED);
}

/* ---- the scheduler context ------------------------------------------------------------------ */

static void reset_spinning(ApM *m)
{
        m->spinning = false;
        if (atomic_fetch_sub(&ap_sched.nmspinning, 1) == 1)
                ap_wakep();
}

/* The owner of a P being removed by a resize gives it up. */
static void retire_p(ApM *m)
{
        ApP *p = m->p;
        bool drained = false;

        ap_sched_lock();
        if (p->id >= atomic_load(&ap_sched.nprocs)) {
                drained = !ap_runq_empty(p);
                ap_p_drain_to_global(p);
                ap_stack_flush(p);
                while (p->gfree) {
                        ApG *g = p->gfree;

                        p->gfree = g->next;
                        free(g);
                }
                p->ngfree = 0;
                atomic_store(&p->retire, 0);
                atomic_store_explicit(&p->m, NULL, AP_RELAXED);
                atomic_store(&p->status, AP_P_DEAD);
                m->p = NULL;
                ap_resize_try_complete_locked();
        } else {
                atomic_store(&p->retire, 0);
        }
        ap_sched_unlock();
        if (!m->p && m->spinning) {
                /* it stops now: while counted as spinning, wakep() below would rely on it */
                m->spinning = false;
                atomic_fetch_sub(&ap_sched.nmspinning, 1);
        }
        /* what it drained, and what went to the global queue while it was retiring (a task
         * readied or yielded on this P, task.c ready_local), needs a thread that keeps a P */
        if (drained || ap_gq_nonempty())
                ap_wakep();
}

/* A non-blocking poll by the owner of @p: what it readies goes to p's queue.  Skipped when
 * nobody waits or an M blocked in the poller delivers the edges anyway. */
static ApG *poll_local(ApP *p)
{
        ApG *list;

        if (!ap_netpoll_pending() || ap_netpoll_blocked())
                return NULL;
        list = ap_netpoll_poll(0);
        if (!list)
                return NULL;
        (void)ap_netpoll_ready_list(list);
        return ap_runq_get(p);
}

/* The M that gave up its P blocks in the poller, if no other M does (Go's findrunnable), and
 * keeps polling until it has a P: one handed over by startm(), or an idle one it takes for the
 * tasks it readied (those go to the global queue while no P is idle).  It stops polling when
 * nobody waits on the poller any more.  False if another M polls already. */
static bool netpoll_block(ApM *m)
{
        ApP *p = NULL;

        ap_sched_lock();
        if (ap_sched.poll_m || atomic_load(&ap_sched.shutdown)) {
                ap_sched_unlock();
                return false;
        }
        ap_sched.poll_m = m;
        ap_sched_unlock();

        for (;;) {
                ApG *list = ap_netpoll_poll(-1);
                bool done;

                ap_sched_lock();
                p = atomic_exchange(&m->nextp, NULL);
                if (p) {
                        m->spinning = m->start_spinning;
                        m->start_spinning = false;
                } else if (list) {
                        p = ap_pidleget_locked();
                }
                done = p || atomic_load(&ap_sched.shutdown) || !ap_netpoll_pending();
                if (done)
                        ap_sched.poll_m = NULL;
                ap_sched_unlock();
                if (p)
                        ap_acquirep(m, p);
                (void)ap_netpoll_ready_list(list);
                if (done)
                        return true;
        }
}

static ApG *find_runnable(ApM *m)
{
        ApP *p;
        ApG *g;
        bool was_spinning;

top:
        if (atomic_load(&ap_sched.shutdown)) {
                if (m->p) {
                        ap_sched_lock();
                        ap_pidleput_locked(m->p);
                        ap_sched_unlock();
                        m->p = NULL;
                }
                return NULL;
        }
        if (!m->p) {
                p = atomic_exchange(&m->nextp, NULL);
                if (!p) {
                        if (m->spinning) {
                                m->spinning = false;
                                atomic_fetch_sub(&ap_sched.nmspinning, 1);
                        }
                        stopm(m);
                        goto top;
                }
                ap_acquirep(m, p);
                m->spinning = m->start_spinning;
                m->start_spinning = false;
        }
        p = m->p;
        if (atomic_load_explicit(&p->retire, AP_RELAXED)) {
                retire_p(m);
                goto top;
        }
        ap_pace_point(m);
        ap_timers_poll(p, true);
        if (atomic_load_explicit(&p->schedtick, AP_RELAXED) % 61 == 0 && (g = ap_gq_get(p, 1)))
                return g;
        if ((g = ap_runq_get(p)))
                return g;
        if ((g = ap_gq_get(p, AP_RT_RING / 2)))
                return g;
        if ((g = poll_local(p)))
                return g;

        /* steal, unless enough threads are already looking */
        {
                uint32_t np = atomic_load(&ap_sched.nprocs), idle = atomic_load(&ap_sched.npidle);
                uint32_t busy = np > idle ? np - idle : 0;

                if (m->spinning || 2 * atomic_load(&ap_sched.nmspinning) < busy) {
                        if (!m->spinning) {
                                m->spinning = true;
                                atomic_fetch_add(&ap_sched.nmspinning, 1);
                        }
                        /* bounded spin (SPIN_NS): a spinning M keeps wakep() from paying a
                         * futex wake for every message in a burst of hand-offs */
                        uint64_t until = 0;

                        for (int round = 0;; round++) {
                                if ((g = steal_work(m)))
                                        return g;
                                if (round % SPIN_POLL_EVERY == SPIN_POLL_EVERY - 1 &&
                                    (g = poll_local(p)))
                                        return g;
                                if (round == 2)
                                        until = ap_now_ns() + SPIN_NS;
                                else if (round > 2 && ap_now_ns() > until)
                                        break;
                                if (atomic_load_explicit(&p->retire, AP_RELAXED) ||
                                    atomic_load_explicit(&ap_sched.shutdown, AP_RELAXED))
                                        break;
                                for (int i = 0; i < 50; i++)
                                        ap_cpu_relax();
                        }
                }
        }

        /* give the P back */
        ap_sched_lock();
        if (ap_gq_nonempty() || atomic_load(&p->retire) || !ap_runq_empty(p)) {
                ap_sched_unlock();
                goto top;
        }
        ap_pidleput_locked(p);
        m->p = NULL;
        ap_sched_unlock();

        was_spinning = m->spinning;
        if (was_spinning) {
                m->spinning = false;
                atomic_fetch_sub(&ap_sched.nmspinning, 1);
        }
        /* work that arrived while we were giving up: take an idle P again */
        {
                uint32_t np = atomic_load(&ap_sched.nprocs);
                bool work = ap_gq_nonempty();

                for (uint32_t i = 0; i < np && !work; i++) {
                        ApP *v = atomic_load_explicit(&ap_sched.allp[i], AP_ACQUIRE);

                        work = v && !ap_runq_empty(v);
                }
                if (work) {
                        ap_sched_lock();
                        p = ap_pidleget_locked();
                        ap_sched_unlock();
                        if (p) {
                                ap_acquirep(m, p);
                                if (was_spinning) {
                                        m->spinning = true;
                                        atomic_fetch_add(&ap_sched.nmspinning, 1);
                                }
                                goto top;
                        }
                }
        }
        if (ap_netpoll_pending() && netpoll_block(m))
                goto top;
        stopm(m);
        goto top;
}

static void execute(ApM *m, ApG *g)
{
        void *fake = NULL;

        if (m->spinning)
                reset_spinning(m);
        ap_g_dispatch(m, g);
        ap_fiber_leave(g->fiber, &fake, ap_stack_lo(g->stack), ap_stack_usable(g->stack));
        ap_arch_switch(&m->g0_sp, g->sp);
        ap_fiber_arrive(fake);
        ap_after_switch(m);
}

static void *m_main(void *arg)
{
        ApM *m = arg;
        pthread_attr_t attr;

        tls_m = m;
        ap_hog_m_init(m);
        (void)ap_stack_altstack_init(m);
        m->g0_fiber = ap_fiber_current();
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
                (void)pthread_attr_getstack(&attr, &m->g0_lo, &m->g0_size);
                pthread_attr_destroy(&attr);
        }
        ap_pace_m_start(m);
        for (;;) {
                ApG *g = find_runnable(m);

                if (!g)
                        break;
                execute(m, g);
        }
        ap_pace_m_stop(m);
        ap_stack_altstack_fini(m);
        return NULL;
}

/* ---- start / stop --------------------------------------------------------------------------- */

ApP *ap_p_new(uint32_t id)
{
        ApP *p = aligned_alloc(AP_CACHELINE, sizeof(ApP));

        if (!p)
                return NULL;
        memset(p, 0, sizeof(*p));
        p->id = id;
        p->rand = 0x2545f4914f6cdd1dull * (id + 1);
        atomic_store(&p->status, AP_P_DEAD);
        return p;
}

void ap_sched_shutdown(void)
{
        ApM *m;

        atomic_store(&ap_sched.shutdown, true);
        ap_sched_lock();
        while ((m = ap_sched.midle)) {
                ap_sched.midle = m->idle_next;
                atomic_store_explicit(&m->park, 1, AP_RELEASE);
                ap_futex_wake(&m->park, 1);
        }
        atomic_store(&ap_sched.nmidle, 0);
        ap_sched_unlock();
        ap_netpoll_break();
        for (m = ap_sched.allm; m; m = m->all_next)
                if (m->thread)
                        pthread_join(m->thread, NULL);
        while ((m = ap_sched.allm)) {
                ap_sched.allm = m->all_next;
                free(m);
        }
}
