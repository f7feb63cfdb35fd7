/* SPDX-License-Identifier: MIT */
/*
 * Live resize without stopping the world (DESIGN.md, "Key mechanisms").  The only code that
 * changes the processor count.  ap_rt_set_procs() applies a request at once under the scheduler
 * lock: growing initialises (or revives) Ps and idles them so that wakep() can start them;
 * shrinking lowers nprocs first (from then on nobody acquires or steals from a removed id),
 * kills idle removed Ps, takes removed Ps out of blocking regions, and flags running ones to
 * retire: their owner gives them up at its next scheduling point (sched.c, retire_p()) while
 * their queued work moves to the global queue at once.  The monitor repeats the step every
 * round until every removed P is DEAD; whoever kills the last one publishes completion.
 * P structs are never freed while the runtime runs.
 */
#include <stdlib.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/runq.h"

/* Apply the requested size; returns true when something changed.  Under ap_sched.lock. */
static bool resize_apply_locked(uint32_t target)
{
        uint32_t k = atomic_load(&ap_sched.nprocs);

        if (target > k) {
                for (uint32_t id = k; id < target; id++) {
                        ApP *p = atomic_load(&ap_sched.allp[id]);

                        if (!p) {
                                p = ap_p_new(id);
                                if (!p) {
                                        target = id;
                                        break;
                                }
                                atomic_store_explicit(&ap_sched.allp[id], p, AP_RELEASE);
                        }
                }
                if (target <= k)
                        return false;
                atomic_store(&ap_sched.nprocs, target);
                if (target > atomic_load(&ap_sched.maxp))
                        atomic_store(&ap_sched.maxp, target);
                for (uint32_t id = k; id < target; id++) {
                        ApP *p = atomic_load(&ap_sched.allp[id]);

                        atomic_store(&p->retire, 0);
                        if (atomic_load(&p->status) == AP_P_DEAD) {
                                /* its ring is empty by invariant; counters carry on */
                                atomic_store(&p->preempt, 0);
                                ap_pidleput_locked(p);
                        }
                        /* RUNNING or SYSCALL: an unfinished shrink; it simply stays */
                }
                atomic_fetch_add(&ap_sched.resizes_up, 1);
                return true;
        }
        if (target < k) {
                ApP **pp = &ap_sched.pidle;

                atomic_store(&ap_sched.nprocs, target);
                /* idle Ps with removed ids leave the idle list at once */
                while (*pp) {
                        ApP *p = *pp;

                        if (p->id >= target) {
                                *pp = p->idle_next;
                                p->idle_next = NULL;
                                atomic_fetch_sub(&ap_sched.npidle, 1);
                                atomic_store(&p->status, AP_P_DEAD);
                        } else {
                                pp = &p->idle_next;
                        }
                }
                atomic_fetch_add(&ap_sched.resizes_down, 1);
                return true;
        }
        return false;
}

/* Push every removed P towards DEAD; true when all are.  Under ap_sched.lock. */
static bool retire_step_locked(bool *ret_moved)
{
        uint32_t n = atomic_load(&ap_sched.nprocs), maxp = atomic_load(&ap_sched.maxp);
        bool done = true;

        for (uint32_t id = n; id < maxp; id++) {
                ApP *p = atomic_load(&ap_sched.allp[id]);
                uint32_t s;

                if (!p)
                        continue;
                s = atomic_load(&p->status);
                if (s == AP_P_DEAD)
                        continue;
                if (s == AP_P_SYSCALL) {
                        if (atomic_compare_exchange_strong(&p->status, &s, AP_P_DEAD)) {
                                /* its M is in a blocking region and will take the slow path */
                                if (!ap_runq_empty(p)) {
                                        ap_p_drain_to_global(p);
                                        *ret_moved = true;
                                }
                                continue;
                        }
                        done = false;
                        continue;
                }
                done = false;
                if (s == AP_P_RUNNING) {
                        atomic_store(&p->retire, 1);
                        atomic_store(&p->preempt, 1);
                        if (!ap_runq_empty(p)) {
                                ap_p_drain_to_global(p);
                                *ret_moved = true;
                        }
                }
        }
        return done;
}

/* Publish the resize as complete when every removed P is DEAD.  Under ap_sched.lock. */
void ap_resize_try_complete_locked(void)
{
        uint32_t gen = atomic_load(&ap_sched.req_gen);
        uint32_t n = atomic_load(&ap_sched.nprocs), maxp = atomic_load(&ap_sched.maxp);

        if (gen == atomic_load(&ap_sched.done_gen))
                return;
        for (uint32_t id = n; id < maxp; id++) {
                ApP *p = atomic_load(&ap_sched.allp[id]);

                if (p && atomic_load(&p->status) != AP_P_DEAD)
                        return;
        }
        atomic_store(&ap_sched.in_force, n);
        atomic_store(&ap_sched.last_resize_ns, ap_now_ns() - atomic_load(&ap_sched.req_ns));
        atomic_store(&ap_sched.done_gen, gen);
        ap_futex_wake(&ap_sched.done_gen, INT32_MAX);
}

/* One step of a pending resize (the requester's and then the monitor's, every round until it
 * is complete).  Returns true when a resize was pending. */
bool ap_resize_step(uint64_t now)
{
        bool acted, moved = false;

        (void)now;
        if (atomic_load(&ap_sched.req_gen) == atomic_load(&ap_sched.done_gen))
                return false;
        ap_sched_lock();
        acted = resize_apply_locked(atomic_load(&ap_sched.target));
        (void)retire_step_locked(&moved);
        ap_resize_try_complete_locked();
        ap_sched_unlock();
        if (acted || moved)
                ap_wakep();
        return true;
}

int ap_rt_set_procs(unsigned n)
{
        if (n == 0)
                return -EINVAL;
        if (!atomic_load(&ap_sched.running))
                return -ESRCH;
        if (n > AP_RT_MAXPROCS)
                n = AP_RT_MAXPROCS;
        ap_sched_lock();
        atomic_store(&ap_sched.target, n);
        atomic_store(&ap_sched.req_ns, ap_now_ns());
        atomic_fetch_add(&ap_sched.req_gen, 1);
        ap_sched_unlock();
        /* growing is in force at once; shrinking once the removed Ps' owners let go of them */
        (void)ap_resize_step(0);
        if (atomic_load(&ap_sched.req_gen) != atomic_load(&ap_sched.done_gen))
                ap_sysmon_wake();
        return 0;
}

