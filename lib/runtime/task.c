/* SPDX-License-Identifier: MIT */
/*
 * Tasks (G) and switching.  A task leaves with g_leave(), naming a hook (yield, park, exit,
 * global) that the arriving side runs once the departing task's registers are saved: requeue
 * it, or mark it waiting and only then release the wait object's lock, or recycle its stack.
 * A task can thus hand the CPU straight to the next runnable one (runnext or the ring; no
 * bounce through the scheduler context) and still never be seen runnable by a thief while its
 * frame is live.  An exiting task joined by a parked task switches straight to its joiner.
 * Stacks are bound at first dispatch.  Also here: the public task API (spawn, join, yield,
 * checkpoint, blocking regions: Go's entersyscall/exitsyscall fast path with one CAS back).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/arch.h"
#include "lib/runtime/fiber.h"
#include "lib/runtime/hog.h"
#include "lib/runtime/internal.h"
#include "lib/runtime/pace.h"
#include "lib/runtime/runq.h"

#define P_GFREE_MAX 128u

/* ---- tasks ---------------------------------------------------------------------------------- */

static void g_leave(ApM *m, ApG *g, int hook, ApSpin *lock, ApG *next);
static ApG *pick_next_fast(ApP *p);

static void task_entry(void *arg)
{
        ApG *g = arg;

        ap_fiber_arrive(NULL);
        ap_after_switch(ap_cur_m());
        ap_rt_exit(true);
        g->fn(g->arg);
        {
                ApM *m;
                bool rt = ap_rt_enter(&m);
                ApP *p;

                (void)rt; /* never leaves: the tick stays odd */
                autoprocs_block_end();
                m = ap_cur_m();
                p = m->p;
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
                if (!next) {
                        ap_pace_point(m);
                        ap_timers_poll(p, false);
                        next = pick_next_fast(p);
                }
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
void ap_g_dispatch(ApM *m, ApG *g)
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
        atomic_store_explicit(&p->cur_task, g->id, AP_RELAXED);
        atomic_store_explicit(&p->schedtick, atomic_load_explicit(&p->schedtick, AP_RELAXED) + 1,
                              AP_RELAXED);
        if (AP_UNLIKELY(atomic_load_explicit(&p->preempt, AP_RELAXED)))
                atomic_store_explicit(&p->preempt, 0, AP_RELAXED);
        ap_stat_inc(&p->n_switches);
}

static void ready_local(ApM *m, ApG *g, bool next)
{
        ApP *p = m->p;

        if (p && !atomic_load_explicit(&p->retire, AP_RELAXED)) {
                ap_runq_put(p, g, next);
                return;
        }
        /* a retiring P's owner is about to stop: another thread must see the global queue */
        ap_gq_put(g);
        ap_wakep();
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
void ap_after_switch(ApM *m)
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
                ap_g_dispatch(m, next);
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
        ap_after_switch(ap_cur_m());
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
        ApM *m;

        /* The waker owns @g: it took it off a wait list or the timer heap under that object's
         * lock, which the task released only once parked (acquire pairs with the park hook's
         * release).  A check, not an RMW. */
        if (AP_UNLIKELY(atomic_load_explicit(&g->state, AP_ACQUIRE) != AP_G_WAITING))
                abort(); /* readying a task that is not waiting */
        atomic_store_explicit(&g->state, AP_G_RUNNABLE, AP_RELAXED);
        m = ap_cur_m();
        if (m)
                ready_local(m, g, next);
        else
                ap_gq_put(g);
        ap_wakep();
}

void ap_ready_here(ApG *g)
{
        ApM *m = ap_cur_m();

        if (AP_UNLIKELY(atomic_load_explicit(&g->state, AP_ACQUIRE) != AP_G_WAITING))
                abort(); /* readying a task that is not waiting */
        atomic_store_explicit(&g->state, AP_G_RUNNABLE, AP_RELAXED);
        if (m && m->p) {
                ready_local(m, g, true);
                return;
        }
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

/* ---- the task API (autoprocs.h, section 3) -------------------------------------------------- */

/* Each public function below is a scheduling point: its body runs between ap_rt_enter() and
 * ap_rt_exit() (hog.h). */

static int spawn(ApM *m, autoprocs_task_fn fn, void *arg, autoprocs_task **ret_task)
{
        ApP *p;
        ApG *g;

        if (!fn)
                return -EINVAL;
        if (!atomic_load_explicit(&ap_sched.running, AP_ACQUIRE))
                return -ESRCH;
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

AUTOPROCS_API int autoprocs_spawn(autoprocs_task_fn fn, void *arg, autoprocs_task **ret_task)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = spawn(m, fn, arg, ret_task);

        ap_rt_exit(rt);
        return r;
}

static int task_join(ApM *m, autoprocs_task *task)
{
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

AUTOPROCS_API int autoprocs_task_join(autoprocs_task *task)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = task_join(m, task);

        ap_rt_exit(rt);
        return r;
}

AUTOPROCS_API bool autoprocs_in_task(void)
{
        ApM *m = ap_cur_m();

        return m && m->curg;
}

static void yield_now(ApM *m)
{
        ApG *g, *next;
        ApP *p;

        if (!m || !m->curg || !m->p) {
                sched_yield();
                return;
        }
        ap_pace_point(m);
        g = m->curg;
        p = m->p;
        if (atomic_load_explicit(&p->retire, AP_RELAXED)) {
                g_leave(m, g, AP_HOOK_YIELD, NULL, NULL);
                return;
        }
        ap_timers_poll(p, false);
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

void ap_rt_enter_slow(ApM *m)
{
        if (atomic_load_explicit(&m->revoke, AP_ACQUIRE) != AP_REVOKE_NONE) {
                ap_hog_rejoin(m);
                m = ap_cur_m();
        }
        /* asked to yield: a time slice ran out, or a resize removes this P */
        if (m->curg && m->p && atomic_load_explicit(&m->p->preempt, AP_RELAXED))
                yield_now(m);
}

AUTOPROCS_API void autoprocs_yield(void)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        yield_now(m);
        ap_rt_exit(rt);
}

/* A scheduling point for the hog detector at the cost of a store; the full entry (which yields
 * or rejoins) only when the monitor asked. */
AUTOPROCS_API void autoprocs_checkpoint(void)
{
        ApM *m = ap_cur_m();
        uint64_t t;

        if (!m || !m->curg)
                return;
        t = atomic_load_explicit(&m->rt_tick, AP_RELAXED);
        if (t & 1)
                return;
        atomic_store_explicit(&m->rt_tick, t + 2, AP_RELEASE);
        if (AP_UNLIKELY(atomic_load_explicit(&m->revoke, AP_RELAXED) != AP_REVOKE_NONE ||
                        (m->p && atomic_load_explicit(&m->p->preempt, AP_RELAXED)) ||
                        atomic_load_explicit(&ap_pace.on, AP_RELAXED))) {
                bool rt = ap_rt_enter(&m);

                if (m->p)
                        ap_pace_point(m);
                ap_rt_exit(rt);
        }
}

static void block_begin(ApM *m)
{
        ApG *g;
        ApP *p;

        if (!m || !(g = m->curg) || g->in_block)
                return;
        if (!m->p) {
                g->in_block = true;
                return;
        }
        ap_blocking_enter(g); /* may park: the task can resume on another thread */
        m = ap_cur_m();
        g->in_block = true;
        p = m->p;
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

AUTOPROCS_API void autoprocs_block_begin(void)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        block_begin(m);
        ap_rt_exit(rt);
}

void ap_task_rejoin(ApM *m)
{
        ApP *p;

        ap_sched_lock();
        p = ap_pidleget_locked();
        ap_sched_unlock();
        if (p) {
                ap_acquirep(m, p);
                return;
        }
        g_leave(m, m->curg, AP_HOOK_GLOBAL, NULL, NULL);
}

static void block_end(ApM *m)
{
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
        ap_blocking_leave();
        if (atomic_compare_exchange_strong_explicit(&p->status, &s, AP_P_RUNNING, AP_ACQUIRE,
                                                    AP_RELAXED)) {
                ap_acquirep(m, p);
        } else {
                /* the P was retaken (or removed by a resize): any idle one, else queue the task */
                ap_task_rejoin(m);
                m = ap_cur_m();
        }
}

AUTOPROCS_API void autoprocs_block_end(void)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        block_end(m);
        ap_rt_exit(rt);
}
