/* SPDX-License-Identifier: MIT */
/*
 * The embedded M:N runtime's entry points for the rest of the library (init.c) and for tests and
 * benchmarks.  The runtime knows nothing of cgroups: it is told a processor count and obeys.
 * The task-level API (spawn, join, yield, sleep, channels, wait groups, mutexes, blocking
 * regions, stats) is the public one in autoprocs.h and is implemented in this folder.
 */
#pragma once

#include <stddef.h>

#include "autoprocs.h"

/* Guard pages below task stacks (AUTOPROCS_STACK_GUARD, read by lib/env.c). */
enum {
        AP_STACK_GUARD_AUTO = 0,      /* while vm.max_map_count leaves room (stack.c) */
        AP_STACK_GUARD_ALWAYS = 1,
        AP_STACK_GUARD_NEVER = 2,
};

typedef struct ApRtOptions {
        unsigned procs;               /* processors at start, >= 1 */
        size_t stack_size;            /* usable bytes per task stack; 0 = default (64 KiB) */
        int stack_guard;              /* AP_STACK_GUARD_* */
        unsigned max_threads;         /* OS thread cap; 0 = default (10000) */
        unsigned max_blocking;        /* tasks in blocking regions at once; 0 = 4 per processor */
        autoprocs_log_fn log_fn;      /* events "hog", "thread-cap", "stack-overflow"; may be NULL */
        void *log_userdata;
} ApRtOptions;

/* Start the runtime (worker threads, monitor).  @retval 0  @retval -EALREADY  @retval -errno */
int ap_rt_start(const ApRtOptions *opts);
/* Wait until no task is alive, then stop every thread.  No-op when not running.
 * Not from a task. */
void ap_rt_stop(void);
/* True while started. */
bool ap_rt_running(void);
/* Request a processor count (from any thread, also a task); returns at once.
 * @retval 0  @retval -EINVAL n == 0  @retval -ESRCH not running */
int ap_rt_set_procs(unsigned n);
/* Processors in force (0 when not running). */
unsigned ap_rt_procs(void);
/* Wait up to @timeout_ms for the last request to be in force.  @retval 0  @retval -ETIMEDOUT */
int ap_rt_wait_procs(unsigned timeout_ms);

/*
 * Fractional pacing (pace.c, DESIGN.md "Pacing"): keep the whole process below @quota_ns of CPU
 * per @period_ns (the binding CFS limit), evenly, so that the kernel does not throttle it.
 * quota_ns 0 or period_ns 0 turns pacing off.  From any thread; takes effect at once (held
 * threads are woken to decide afresh).
 * @retval 0  @retval -ESRCH not running  @retval -EINVAL period outside 1 ms .. 1 s
 */
int ap_rt_pace_set(uint64_t quota_ns, uint64_t period_ns);
/* The kernel's judgement: the binding cgroup's cumulative nr_periods and nr_throttled, and its
 * CPU usage in ns (0: unknown).  Called at each watcher tick; throttled periods back pacing off,
 * calm ticks let it climb back, usage beyond the process's shrinks the share. */
void ap_rt_pace_feedback(uint64_t nr_periods, uint64_t nr_throttled, uint64_t usage_ns);
