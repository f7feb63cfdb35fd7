/* SPDX-License-Identifier: MIT */
/*
 * The G-M-P scheduler: worker threads (M) run tasks (G) while holding a processor (P).
 *
 * Switching: a task leaves with g_leave(), naming a hook (yield, park, exit, global) that the
 * arriving side runs once the departing task's registers are saved; a task can thus hand the
 * CPU straight to the next runnable task (no bounce through the scheduler context) and still
 * never be seen runnable by a thief while its frame is live.  The scheduler context (g0, the
 * thread's own stack) runs find_runnable(): timers, global queue every 61st tick, runnext and
 * the ring, a global batch, stealing (bounded spinning), then it gives the P back and parks on
 * a futex.  Blocking regions detach the P (Go's entersyscall/exitsyscall); the monitor
 * (sysmon.c) retakes it, detects hogs and applies resizes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/arch.h"
#include "runtime/fiber.h"
#include "runtime/internal.h"
#include "runtime/runq.h"

#define P_GFREE_MAX 128u
#define SPIN_NS 20000u

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
}

static void acquirep(ApM *m, ApP *p)
{
        m->p = p;
        atomic_store_explicit(&p->m, m, AP_RELAXED);
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
        m = calloc(1, sizeof(*m));
        if (!m) {
                atomic_fetch_sub(&ap_sched.nthreads, 1);
                return -ENOMEM;
        }
        atomic_store(&m->nextp, p);
        m->start_spinning = spinning;
        pthread_mutex_lock(&ap_sched.lock);
        m->id = ++ap_sched.next_mid;
        m->rand = 0x9e3779b97f4a7c15ull * m->id;
        m->all_next = ap_sched.allm;
        ap_sched.allm = m;
        pthread_mutex_unlock(&ap_sched.lock);

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

        pthread_mutex_lock(&ap_sched.lock);
        if (!p) {
                p = ap_pidleget_locked();
                if (!p) {
                        pthread_mutex_unlock(&ap_sched.lock);
                        if (spinning)
                                atomic_fetch_sub(&ap_sched.nmspinning, 1);
                        return;
                }
        }
        m = ap_sched.midle;
        if (m) {
                ap_sched.midle = m->idle_next;
                atomic_fetch_sub(&ap_sched.nmidle, 1);
        }
        pthread_mutex_unlock(&ap_sched.lock);
        if (!m) {
                if (newm(p, spinning) == 0)
                        return;
                ap_p_drain_to_global(p);
                pthread_mutex_lock(&ap_sched.lock);
                ap_pidleput_locked(p);
                pthread_mutex_unlock(&ap_sched.lock);
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
        if (atomic_load(&ap_sched.npidle) == 0)
                return;
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
                pthread_mutex_lock(&ap_sched.lock);
                ap_pidleput_locked(p);
                pthread_mutex_unlock(&ap_sched.lock);
                ap_wakep();
                return;
        }
        if (!ap_runq_empty(p) || ap_gq_nonempty()) {
                startm(p, false);
                return;
        }
        pthread_mutex_lock(&ap_sched.lock);
        ap_pidleput_locked(p);
        pthread_mutex_unlock(&ap_sched.lock);
}

/* Park this M until startm() hands it a P (or shutdown). */
static void stopm(ApM *m)
{
        pthread_mutex_lock(&ap_sched.lock);
        if (atomic_load(&ap_sched.shutdown)) {
                pthread_mutex_unlock(&ap_sched.lock);
                return;
        }
        m->idle_next = ap_sched.midle;
        ap_sched.midle = m;
        atomic_fetch_add(&ap_sched.nmidle, 1);
        pthread_mutex_unlock(&ap_sched.lock);
        while (atomic_load_explicit(&m->park, AP_ACQUIRE) == 0)
                ap_futex_wait(&m->park, 0, NULL);
        atomic_store_explicit(&m->park, 0, AP_RELAXED);
}

/* ---- tasks ---------------------------------------------------------------------------------- */

static void after_switch(ApM *m);
static void g_leave(ApM *m, ApG *g, int hook, ApSpin *lock, ApG *next);
static ApG *pick_next_fast(ApP *p);

static void task_entry(void *arg)
{
        ApG *g = arg;

        ap_fiber_arrive(NULL);
        after_switch(ap_cur_m());
        g->fn(g->arg);
        autoprocs_block_end();
        {
                ApM *m = ap_cur_m();
                ApP *p = m->p;
                ApG *next = NULL;
                int hook = AP_HOOK_EXIT;

                /* A task joined by a parked task switches straight to it: the joiner can only
                 * run (and free g) after the switch, and the hook that recycles g's stack runs
                 * first on the joiner's side. */
                if (!g->detached && p && !atomic_load_explicit(&p->retire, AP_RELAXED)) {
                        ap_spin_lock(&g->lock);
                        if (g->joiner && g->joiner->g) {
                                uint32_t s = AP_G_WAITING;

                                next = g->joiner->g;
                                if (!atomic_compare_exchange_strong_explicit(
                                            &next->state, &s, AP_G_RUNNABLE, AP_ACQUIRE,
                                            AP_RELAXED))
                                        abort();
                                g->joiner = NULL;
                                g->done = true;
                                hook = AP_HOOK_EXIT_JOINED;
                        }
                        ap_spin_unlock(&g->lock);
                }
                if (!next)
                        next = pick_next_fast(p);
                g_leave(m, g, hook, NULL, next);
        }
        abort();
}

static ApG *g_alloc(ApP *p)
{
        ApG *g;

        if (p && p->gfree) {
                g = p->gfree;
                p->gfree = g->next;
                p->ngfree--;
                return g;
        }
        return malloc(sizeof(ApG));
}

void ap_g_free(ApG *g)
{
        ApM *m = ap_cur_m();
        ApP *p = m ? m->p : NULL;

        if (p && p->ngfree < P_GFREE_MAX) {
                g->next = p->gfree;
                p->gfree = g;
                p->ngfree++;
                return;
        }
        free(g);
}

/* Make g the running task of m: bind a stack on first dispatch. */
static void dispatch_prepare(ApM *m, ApG *g)
{
        ApP *p = m->p;

        if (AP_UNLIKELY(!g->sp)) {
                ApStack *s = ap_stack_get(p);

                if (!s) {
                        static const char msg[] = "autoprocs: out of memory for a task stack\n";

                        (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
                        abort();
                }
                g->stack = s;
                ap_fiber_unpoison(ap_stack_lo(s), ap_stack_usable(s));
                g->fiber = AP_TSAN ? ap_stack_fiber(s) : NULL;
                g->sp = ap_arch_frame_init(ap_stack_top(s), task_entry, g);
        }
        /* a plain check, not an RMW: the queues already hand each task to one M */
        if (AP_UNLIKELY(atomic_load_explicit(&g->state, AP_RELAXED) != AP_G_RUNNABLE))
                abort(); /* a task dispatched twice */
        atomic_store_explicit(&g->state, AP_G_RUNNING, AP_RELAXED);
        if (AP_UNLIKELY(!atomic_load_explicit(&p->in_task, AP_RELAXED)))
                atomic_store_explicit(&p->in_task, 1, AP_RELAXED);
        m->curg = g;
        atomic_store_explicit(&p->schedtick, atomic_load_explicit(&p->schedtick, AP_RELAXED) + 1,
                              AP_RELAXED);
        if (AP_UNLIKELY(atomic_load_explicit(&p->preempt, AP_RELAXED)))
                atomic_store_explicit(&p->preempt, 0, AP_RELAXED);
        ap_stat_inc(&p->n_switches);
}

static void ready_local(ApM *m, ApG *g, bool next)
{
        ApP *p = m->p;

        if (p && !atomic_load_explicit(&p->retire, AP_RELAXED))
                ap_runq_put(p, g, next);
        else
                ap_gq_put(g);
}

static void g_finish(ApM *m, ApG *g, bool joined)
{
        ApP *p = m->p;
        ApWaiter *w;

        g->fiber = NULL; /* stays with the stack */
        ap_stack_put(p, g->stack);
        g->stack = NULL;
        g->sp = NULL;
        ap_stat_inc(&p->n_finished);
        atomic_store_explicit(&g->state, AP_G_DEAD, AP_RELAXED);
        if (g->detached) {
                ap_g_free(g);
                return;
        }
        if (joined)
                return; /* the joiner runs next and releases g */
        ap_spin_lock(&g->lock);
        g->done = true;
        w = g->joiner;
        ap_spin_unlock(&g->lock); /* the joiner may free g from here on */
        if (w)
                ap_waiter_wake(w);
}

/* The arriving side commits the departing task's state change. */
static void after_switch(ApM *m)
{
        int hook = m->hook;
        ApG *g = m->hook_g;

        if (hook == AP_HOOK_NONE)
                return;
        m->hook = AP_HOOK_NONE;
        switch (hook) {
        case AP_HOOK_YIELD:
                atomic_store_explicit(&g->state, AP_G_RUNNABLE, AP_RELAXED);
                ready_local(m, g, false);
                break;
        case AP_HOOK_PARK:
                atomic_store_explicit(&g->state, AP_G_WAITING, AP_RELEASE);
                ap_spin_unlock(m->hook_lock);
                break;
        case AP_HOOK_EXIT:
                g_finish(m, g, false);
                break;
        case AP_HOOK_EXIT_JOINED:
                g_finish(m, g, true);
                break;
        case AP_HOOK_GLOBAL:
                atomic_store_explicit(&g->state, AP_G_RUNNABLE, AP_RELAXED);
                ap_gq_put(g);
                ap_wakep();
                break;
        default:
                abort();
        }
}

/* Leave the running task g for next (NULL: the scheduler context). */
static void g_leave(ApM *m, ApG *g, int hook, ApSpin *lock, ApG *next)
{
        void *fake = NULL;

        ap_stack_check(g->stack, &fake, g->id);
        m->hook = hook;
        m->hook_g = g;
        m->hook_lock = lock;
        if (next) {
                dispatch_prepare(m, next);
                ap_fiber_leave(next->fiber, hook >= AP_HOOK_EXIT ? NULL : &fake,
                               ap_stack_lo(next->stack), ap_stack_usable(next->stack));
                ap_arch_switch(&g->sp, next->sp);
        } else {
                m->curg = NULL;
                if (m->p)
                        atomic_store_explicit(&m->p->in_task, 0, AP_RELAXED);
                ap_fiber_leave(m->g0_fiber, hook >= AP_HOOK_EXIT ? NULL : &fake, m->g0_lo,
                               m->g0_size);
                ap_arch_switch(&g->sp, m->g0_sp);
        }
        ap_fiber_arrive(fake);
        after_switch(ap_cur_m());
}

/* Next task for a direct switch from a task, or NULL to go through the scheduler. */
static ApG *pick_next_fast(ApP *p)
{
        if (!p || atomic_load_explicit(&p->retire, AP_RELAXED))
                return NULL;
        if (AP_UNLIKELY(atomic_load_explicit(&p->schedtick, AP_RELAXED) % 61 == 0) &&
            ap_gq_nonempty())
                return NULL;
        return ap_runq_get(p);
}

bool ap_task_parkable(ApG *g)
{
        ApM *m = ap_cur_m();

        return g && !g->in_block && m && m->p;
}

void ap_park(ApSpin *lock)
{
        ApM *m = ap_cur_m();

        g_leave(m, m->curg, AP_HOOK_PARK, lock, pick_next_fast(m->p));
}

void ap_ready(ApG *g)
{
        ap_ready_ex(g, true);
}

void ap_ready_ex(ApG *g, bool next)
{
        uint32_t s = AP_G_WAITING;
        ApM *m;

        if (!atomic_compare_exchange_strong_explicit(&g->state, &s, AP_G_RUNNABLE, AP_ACQUIRE,
                                                     AP_RELAXED))
                abort(); /* readying a task that is not waiting */
        m = ap_cur_m();
        if (m)
                ready_local(m, g, next);
        else
                ap_gq_put(g);
        ap_wakep();
}

void ap_waiter_wake(ApWaiter *w)
{
        if (w->g) {
                ap_ready(w->g);
                return;
        }
        atomic_store_explicit(&w->flag, 1, AP_RELEASE);
        ap_futex_wake(&w->flag, 1);
}

void ap_waiter_wait(ApWaiter *w, ApSpin *lock)
{
        if (w->g) {
                ap_park(lock);
                return;
        }
        ap_spin_unlock(lock);
        while (atomic_load_explicit(&w->flag, AP_ACQUIRE) == 0)
                ap_futex_wait(&w->flag, 0, NULL);
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

        pthread_mutex_lock(&ap_sched.lock);
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
        pthread_mutex_unlock(&ap_sched.lock);
        if (drained)
                ap_wakep();
}

static ApG *find_runnable(ApM *m)
{
        ApP *p;
        ApG *g;
        bool was_spinning;

top:
        if (atomic_load(&ap_sched.shutdown)) {
                if (m->p) {
                        pthread_mutex_lock(&ap_sched.lock);
                        ap_pidleput_locked(m->p);
                        pthread_mutex_unlock(&ap_sched.lock);
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
                acquirep(m, p);
                m->spinning = m->start_spinning;
                m->start_spinning = false;
        }
        p = m->p;
        if (atomic_load_explicit(&p->retire, AP_RELAXED)) {
                retire_p(m);
                goto top;
        }
        if (ap_timer_next() != UINT64_MAX)
                (void)ap_timers_run(ap_now_ns());
        if (atomic_load_explicit(&p->schedtick, AP_RELAXED) % 61 == 0 && (g = ap_gq_get(p, 1)))
                return g;
        if ((g = ap_runq_get(p)))
                return g;
        if ((g = ap_gq_get(p, AP_RT_RING / 2)))
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
        pthread_mutex_lock(&ap_sched.lock);
        if (ap_gq_nonempty() || atomic_load(&p->retire) || !ap_runq_empty(p)) {
                pthread_mutex_unlock(&ap_sched.lock);
                goto top;
        }
        ap_pidleput_locked(p);
        m->p = NULL;
        pthread_mutex_unlock(&ap_sched.lock);

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
                        pthread_mutex_lock(&ap_sched.lock);
                        p = ap_pidleget_locked();
                        pthread_mutex_unlock(&ap_sched.lock);
                        if (p) {
                                acquirep(m, p);
                                if (was_spinning) {
                                        m->spinning = true;
                                        atomic_fetch_add(&ap_sched.nmspinning, 1);
                                }
                                goto top;
                        }
                }
        }
        stopm(m);
        goto top;
}

static void execute(ApM *m, ApG *g)
{
        void *fake = NULL;

        if (m->spinning)
                reset_spinning(m);
        dispatch_prepare(m, g);
        ap_fiber_leave(g->fiber, &fake, ap_stack_lo(g->stack), ap_stack_usable(g->stack));
        ap_arch_switch(&m->g0_sp, g->sp);
        ap_fiber_arrive(fake);
        after_switch(m);
}

static void *m_main(void *arg)
{
        ApM *m = arg;
        pthread_attr_t attr;

        tls_m = m;
        (void)ap_stack_altstack_init(m);
        m->g0_fiber = ap_fiber_current();
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
                (void)pthread_attr_getstack(&attr, &m->g0_lo, &m->g0_size);
                pthread_attr_destroy(&attr);
        }
        for (;;) {
                ApG *g = find_runnable(m);

                if (!g)
                        break;
                execute(m, g);
        }
        ap_stack_altstack_fini(m);
        return NULL;
}

/* ---- the task API (autoprocs.h, section 3) -------------------------------------------------- */

AUTOPROCS_API int autoprocs_spawn(autoprocs_task_fn fn, void *arg, autoprocs_task **ret_task)
{
        ApM *m;
        ApP *p;
        ApG *g;

        if (!fn)
                return -EINVAL;
        if (!atomic_load_explicit(&ap_sched.running, AP_ACQUIRE))
                return -ESRCH;
        m = ap_cur_m();
        p = m ? m->p : NULL;
        g = g_alloc(p);
        if (!g)
                return -ENOMEM;
        *g = (ApG){ .fn = fn, .arg = arg, .detached = ret_task == NULL };
        atomic_init(&g->state, AP_G_RUNNABLE);
        if (ret_task)
                *ret_task = g;
        if (p) {
                g->id = ((uint64_t)(p->id + 1) << 40) | ++p->idseq;
                ap_stat_inc(&p->n_spawned);
                ready_local(m, g, true);
        } else {
                g->id = atomic_fetch_add(&ap_sched.ext_ids, 1) + 1;
                atomic_fetch_add(&ap_sched.ext_spawned, 1);
                ap_gq_put(g);
        }
        ap_wakep();
        return 0;
}

AUTOPROCS_API int autoprocs_task_join(autoprocs_task *task)
{
        ApM *m = ap_cur_m();
        ApWaiter w = { .g = m && ap_task_parkable(m->curg) ? m->curg : NULL };

        if (!task || task->detached)
                return -EINVAL;
        ap_spin_lock(&task->lock);
        if (!task->done) {
                task->joiner = &w;
                ap_waiter_wait(&w, &task->lock);
        } else {
                ap_spin_unlock(&task->lock);
        }
        ap_g_free(task);
        return 0;
}

AUTOPROCS_API bool autoprocs_in_task(void)
{
        ApM *m = ap_cur_m();

        return m && m->curg;
}

AUTOPROCS_API void autoprocs_yield(void)
{
        ApM *m = ap_cur_m();
        ApG *g, *next;
        ApP *p;

        if (!m || !m->curg || !m->p) {
                sched_yield();
                return;
        }
        g = m->curg;
        p = m->p;
        if (atomic_load_explicit(&p->retire, AP_RELAXED)) {
                g_leave(m, g, AP_HOOK_YIELD, NULL, NULL);
                return;
        }
        next = pick_next_fast(p);
        if (!next && ap_gq_nonempty())
                next = ap_gq_get(p, AP_RT_RING / 2);
        if (!next) {
                /* nothing else to run here: a scheduling point all the same */
                atomic_store_explicit(&p->schedtick,
                                      atomic_load_explicit(&p->schedtick, AP_RELAXED) + 1,
                                      AP_RELAXED);
                atomic_store_explicit(&p->preempt, 0, AP_RELAXED);
                return;
        }
        g_leave(m, g, AP_HOOK_YIELD, NULL, next);
}

AUTOPROCS_API void autoprocs_checkpoint(void)
{
        ApM *m = ap_cur_m();

        if (m && m->p && AP_UNLIKELY(atomic_load_explicit(&m->p->preempt, AP_RELAXED)))
                autoprocs_yield();
}

AUTOPROCS_API void autoprocs_block_begin(void)
{
        ApM *m = ap_cur_m();
        ApG *g;
        ApP *p;

        if (!m || !(g = m->curg) || g->in_block)
                return;
        g->in_block = true;
        p = m->p;
        if (!p)
                return;
        m->oldp = p;
        m->p = NULL;
        atomic_store_explicit(&p->m, NULL, AP_RELAXED);
        atomic_store_explicit(&p->in_task, 0, AP_RELAXED);
        atomic_store_explicit(&p->syscalltick,
                              atomic_load_explicit(&p->syscalltick, AP_RELAXED) + 1, AP_RELAXED);
        atomic_store_explicit(&p->status, AP_P_SYSCALL, AP_RELEASE);
        if (atomic_load(&ap_sched.sm_deep))
                ap_sysmon_wake();
}

AUTOPROCS_API void autoprocs_block_end(void)
{
        ApM *m = ap_cur_m();
        ApG *g;
        ApP *p;
        uint32_t s = AP_P_SYSCALL;

        if (!m || !(g = m->curg) || !g->in_block)
                return;
        g->in_block = false;
        p = m->oldp;
        m->oldp = NULL;
        if (!p)
                return;
        if (atomic_compare_exchange_strong_explicit(&p->status, &s, AP_P_RUNNING, AP_ACQUIRE,
                                                    AP_RELAXED)) {
                acquirep(m, p);
                return;
        }
        /* the P was retaken (or removed by a resize): any idle one, else queue the task */
        pthread_mutex_lock(&ap_sched.lock);
        p = ap_pidleget_locked();
        pthread_mutex_unlock(&ap_sched.lock);
        if (p) {
                acquirep(m, p);
                return;
        }
        g_leave(m, g, AP_HOOK_GLOBAL, NULL, NULL);
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
        pthread_mutex_lock(&ap_sched.lock);
        while ((m = ap_sched.midle)) {
                ap_sched.midle = m->idle_next;
                atomic_store_explicit(&m->park, 1, AP_RELEASE);
                ap_futex_wake(&m->park, 1);
        }
        atomic_store(&ap_sched.nmidle, 0);
        pthread_mutex_unlock(&ap_sched.lock);
        for (m = ap_sched.allm; m; m = m->all_next)
                if (m->thread)
                        pthread_join(m->thread, NULL);
        while ((m = ap_sched.allm)) {
                ap_sched.allm = m->all_next;
                free(m);
        }
}
