/* SPDX-License-Identifier: MIT */
/*
 * Runtime lifecycle (ap_rt_start/stop), the resize entry points (requests only: the monitor
 * applies them, sysmon.c) and the statistics snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/netpoll.h"
#include "lib/runtime/pace.h"
#include "lib/runtime/runq.h"
#include "lib/util/sized.h"


static pthread_mutex_t lifecycle = PTHREAD_MUTEX_INITIALIZER;

static void free_ps(void)
{
        for (uint32_t i = 0; i < AP_RT_MAXPROCS; i++) {
                ApP *p = atomic_load(&ap_sched.allp[i]);

                if (!p)
                        continue;
                ap_stack_flush(p);
                while (p->gfree) {
                        ApG *g = p->gfree;

                        p->gfree = g->next;
                        free(g);
                }
                free(p);
                atomic_store(&ap_sched.allp[i], NULL);
        }
}

int ap_rt_start(const ApRtOptions *opts)
{
        uint32_t procs;
        int r;

        if (!opts || opts->procs == 0)
                return -EINVAL;
        if (opts->stack_size != 0 && (opts->stack_size < 16u * 1024u ||
                                      opts->stack_size > 64u * 1024u * 1024u))
                return -EINVAL;
        pthread_mutex_lock(&lifecycle);
        if (atomic_load(&ap_sched.running)) {
                pthread_mutex_unlock(&lifecycle);
                return -EALREADY;
        }
        procs = AP_MIN(opts->procs, AP_RT_MAXPROCS);
        memset(&ap_sched, 0, sizeof(ap_sched));
        pthread_mutex_init(&ap_sched.lock, NULL);
        ap_sched.stack_size = opts->stack_size ? opts->stack_size : AP_RT_DEFAULT_STACK;
        ap_sched.max_threads = opts->max_threads ? opts->max_threads : AP_RT_DEFAULT_MAX_THREADS;
        ap_sched.log_fn = opts->log_fn;
        ap_sched.log_userdata = opts->log_userdata;
        ap_pace_init();
        ap_blocking_init(opts->max_blocking);
        r = ap_stack_init(ap_sched.stack_size, opts->stack_guard);
        if (r < 0)
                goto fail;
        (void)ap_hog_init();
        ap_schedtrace_init();
        for (uint32_t i = 0; i < procs; i++) {
                ApP *p = ap_p_new(i);

                if (!p) {
                        r = -ENOMEM;
                        goto fail_ps;
                }
                atomic_store(&ap_sched.allp[i], p);
        }
        atomic_store(&ap_sched.nprocs, procs);
        atomic_store(&ap_sched.maxp, procs);
        atomic_store(&ap_sched.target, procs);
        atomic_store(&ap_sched.in_force, procs);
        for (uint32_t i = procs; i-- > 0;)
                ap_pidleput_locked(atomic_load(&ap_sched.allp[i]));
        atomic_store(&ap_sched.running, true);
        r = ap_sysmon_start();
        if (r < 0) {
                atomic_store(&ap_sched.running, false);
                goto fail_ps;
        }
        pthread_mutex_unlock(&lifecycle);
        return 0;

fail_ps:
        free_ps();
        ap_stack_fini();
fail:
        pthread_mutex_destroy(&ap_sched.lock);
        pthread_mutex_unlock(&lifecycle);
        return r;
}

static uint64_t tasks_alive(void)
{
        uint64_t spawned = atomic_load(&ap_sched.ext_spawned), finished = 0;
        uint32_t maxp = atomic_load(&ap_sched.maxp);

        for (uint32_t i = 0; i < maxp; i++) {
                ApP *p = atomic_load(&ap_sched.allp[i]);

                if (p) {
                        spawned += atomic_load_explicit(&p->n_spawned, AP_RELAXED);
                        finished += atomic_load_explicit(&p->n_finished, AP_RELAXED);
                }
        }
        return spawned > finished ? spawned - finished : 0;
}

void ap_rt_stop(void)
{
        if (ap_cur_m())
                return; /* from a task it would wait for itself */
        pthread_mutex_lock(&lifecycle);
        if (!atomic_load(&ap_sched.running)) {
                pthread_mutex_unlock(&lifecycle);
                return;
        }
        while (tasks_alive() > 0) {
                struct timespec ts = { .tv_nsec = 1000000 };

                nanosleep(&ts, NULL);
        }
        /* no new tasks from here on */
        atomic_store(&ap_sched.running, false);
        ap_pace_fini();
        /* the monitor first: it reads the threads' structures, which shutdown frees */
        atomic_store(&ap_sched.shutdown, true);
        ap_sysmon_join();
        ap_sched_shutdown();
        ap_netpoll_fini();
        ap_timers_fini();
        free_ps();
        ap_stack_fini();
        pthread_mutex_destroy(&ap_sched.lock);
        pthread_mutex_unlock(&lifecycle);
}

bool ap_rt_running(void)
{
        return atomic_load(&ap_sched.running);
}

unsigned ap_rt_procs(void)
{
        if (!atomic_load(&ap_sched.running))
                return 0;
        return atomic_load(&ap_sched.in_force);
}

int ap_rt_wait_procs(unsigned timeout_ms)
{
        uint64_t deadline = ap_now_ns() + (uint64_t)timeout_ms * 1000000u;

        for (;;) {
                uint32_t done = atomic_load(&ap_sched.done_gen);
                uint64_t now;
                struct timespec ts;

                if (!atomic_load(&ap_sched.running) || done == atomic_load(&ap_sched.req_gen))
                        return 0;
                now = ap_now_ns();
                if (now >= deadline)
                        return -ETIMEDOUT;
                ts = ap_ns_to_ts(AP_MIN(deadline - now, (uint64_t)10000000u));
                ap_futex_wait(&ap_sched.done_gen, done, &ts);
        }
}

/* autoprocs_stats as released first (0.1): a caller's size may not be smaller */
#define STATS_FIRST_SIZE AP_SIZE_TO(autoprocs_stats, runq_local)

AUTOPROCS_API int autoprocs_stats_get(autoprocs_stats *ret, size_t size)
{
        autoprocs_stats s = { 0 };
        uint32_t maxp;
        uint64_t finished = 0;

        if (!ret || size < STATS_FIRST_SIZE)
                return -EINVAL;
        if (!atomic_load(&ap_sched.running))
                return -ESRCH;
        maxp = atomic_load(&ap_sched.maxp);
        s.procs = atomic_load(&ap_sched.in_force);
        s.procs_target = atomic_load(&ap_sched.target);
        s.threads = atomic_load(&ap_sched.nthreads) + 1;
        s.threads_idle = atomic_load(&ap_sched.nmidle);
        s.tasks_spawned = atomic_load(&ap_sched.ext_spawned);
        for (uint32_t i = 0; i < maxp; i++) {
                ApP *p = atomic_load(&ap_sched.allp[i]);

                if (!p)
                        continue;
                s.tasks_spawned += atomic_load_explicit(&p->n_spawned, AP_RELAXED);
                finished += atomic_load_explicit(&p->n_finished, AP_RELAXED);
                s.context_switches += atomic_load_explicit(&p->n_switches, AP_RELAXED);
                s.steals += atomic_load_explicit(&p->n_steals, AP_RELAXED);
        }
        s.tasks_alive = s.tasks_spawned > finished ? s.tasks_spawned - finished : 0;
        s.handoffs = atomic_load(&ap_sched.handoffs);
        s.hogs = atomic_load(&ap_sched.hogs);
        s.resizes_up = atomic_load(&ap_sched.resizes_up);
        s.resizes_down = atomic_load(&ap_sched.resizes_down);
        s.thread_cap_hits = atomic_load(&ap_sched.cap_hits);
        ap_stack_counts(&s.stacks_guarded, &s.stacks_unguarded);
        s.last_resize_ns = atomic_load(&ap_sched.last_resize_ns);
        ap_pace_stats(&s);
        ap_blocking_counts(&s.tasks_blocking, &s.tasks_blocking_waiting, &s.blocking_peak);
        s.blocking_cap = ap_blocking_cap();
        s.tasks_polled = ap_netpoll_waiters();
        s.threads_peak = atomic_load(&ap_sched.nthreads_peak) + 1;
        {
                ApSchedFigures f;

                (void)ap_sched_figures(&f, NULL, 0);
                s.hog_threads = f.hog_threads;
                s.procs_idle = f.procs_idle;
                s.threads_spinning = f.spinning;
                s.runq_global = f.runq_global;
                s.runq_local = f.runq_local;
        }
        s.hog_handoffs = atomic_load(&ap_sched.hog_handoffs);
        return ap_fill_sized(ret, size, &s, sizeof(s), STATS_FIRST_SIZE);
}

AUTOPROCS_API int autoprocs_stats_runq(uint32_t *ret_lengths, size_t n)
{
        ApSchedFigures f;

        if (!ret_lengths && n > 0)
                return -EINVAL;
        if (!atomic_load(&ap_sched.running))
                return -ESRCH;
        return (int)ap_sched_figures(&f, ret_lengths, n > AP_RT_MAXPROCS ? AP_RT_MAXPROCS
                                                                         : (uint32_t)n);
}
