/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's figures, gathered once for both of their readers: autoprocs_stats (rt.c) and
 * the scheduler trace, Go's GODEBUG=schedtrace=1000.  With AUTOPROCS_SCHEDTRACE=1s (any duration
 * of at least 1 ms: 500ms, 1s, 2.5s; "0" or unset: off) the monitor writes one line per interval
 * to stderr:
 *
 *     autoprocs-sched 1000ms: procs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=1
 *         hogthreads=0 runqueue=0 [3 0] blocked=1 polled=0
 *
 * (one line; the time since the runtime started, then processors, idle processors, OS threads
 * of the runtime with the monitor, threads spinning for work, idle threads, threads running a
 * hog without a processor, the global queue, each processor's queue, tasks in blocking
 * regions, tasks parked on the netpoller).  A value that is not a duration gives one line on stderr and no trace.  The figures
 * are read without locks: each is exact, the set is not one instant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/internal.h"
#include "lib/runtime/netpoll.h"
#include "lib/util/parse.h"

#define TRACE_MIN_NS 1000000u
#define TRACE_LINE 8192u

static uint64_t trace_every_ns, trace_start_ns, trace_next_ns;

static uint32_t runq_len(ApP *p)
{
        for (;;) {
                uint32_t h = atomic_load_explicit(&p->head, AP_ACQUIRE);
                uint32_t t = atomic_load_explicit(&p->tail, AP_ACQUIRE);
                ApG *rn = atomic_load_explicit(&p->runnext, AP_ACQUIRE);

                if (t == atomic_load_explicit(&p->tail, AP_ACQUIRE) && t - h <= AP_RT_RING)
                        return t - h + (rn != NULL);
        }
}

uint32_t ap_sched_figures(ApSchedFigures *ret, uint32_t *runq, uint32_t n)
{
        uint32_t np = atomic_load(&ap_sched.nprocs), maxp = atomic_load(&ap_sched.maxp);
        uint64_t waiting, peak;

        *ret = (ApSchedFigures){
                .procs = np,
                .procs_idle = atomic_load(&ap_sched.npidle),
                .threads = atomic_load(&ap_sched.nthreads) + 1,
                .threads_idle = atomic_load(&ap_sched.nmidle),
                .spinning = atomic_load(&ap_sched.nmspinning),
                .hog_threads = atomic_load(&ap_sched.hog_threads),
                .runq_global = atomic_load_explicit(&ap_sched.gq_size, AP_RELAXED),
        };
        for (uint32_t i = 0; i < maxp; i++) {
                ApP *p = atomic_load_explicit(&ap_sched.allp[i], AP_ACQUIRE);
                uint32_t len;

                if (!p)
                        continue;
                if (i >= np)
                        continue;
                len = runq_len(p);
                ret->runq_local += len;
                if (runq && i < n)
                        runq[i] = len;
        }
        ap_blocking_counts(&ret->blocked, &waiting, &peak);
        ret->polled = ap_netpoll_waiters();
        return np;
}

void ap_schedtrace_init(void)
{
        const char *v = getenv("AUTOPROCS_SCHEDTRACE");
        uint64_t ns = 0;

        trace_every_ns = 0;
        trace_start_ns = ap_now_ns();
        if (!v || strcmp(v, "0") == 0)
                return;
        if (ap_parse_duration_ns(v, &ns) < 0 || ns < TRACE_MIN_NS) {
                fprintf(stderr,
                        "autoprocs: AUTOPROCS_SCHEDTRACE=\"%.64s\": not an interval of at least "
                        "1ms (e.g. 500ms, 1s, 0 = off); no scheduler trace\n",
                        v);
                return;
        }
        trace_every_ns = ns;
        trace_next_ns = trace_start_ns + ns;
}

static void trace_print(uint64_t now)
{
        static char line[TRACE_LINE];
        static uint32_t runq[AP_RT_MAXPROCS];
        ApSchedFigures f;
        uint32_t np = ap_sched_figures(&f, runq, AP_RT_MAXPROCS);
        size_t len;
        int r;

        r = snprintf(line, sizeof(line),
                     "autoprocs-sched %llums: procs=%u idleprocs=%u threads=%u spinningthreads=%u "
                     "idlethreads=%u hogthreads=%u runqueue=%llu [",
                     (unsigned long long)((now - trace_start_ns) / 1000000u), f.procs,
                     f.procs_idle, f.threads, f.spinning, f.threads_idle, f.hog_threads,
                     (unsigned long long)f.runq_global);
        len = (size_t)r;
        for (uint32_t i = 0; i < np && i < AP_RT_MAXPROCS && len + 64 < sizeof(line); i++)
                len += (size_t)snprintf(line + len, sizeof(line) - len, i ? " %u" : "%u",
                                        runq[i]);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "] blocked=%llu polled=%llu\n",
                                (unsigned long long)f.blocked, (unsigned long long)f.polled);
        if (len >= sizeof(line))
                len = sizeof(line) - 1;
        (void)!write(STDERR_FILENO, line, len);
}

uint64_t ap_schedtrace_tick(uint64_t now)
{
        if (trace_every_ns == 0)
                return UINT64_MAX;
        if (now >= trace_next_ns) {
                trace_print(now);
                /* no burst of lines after a long stall: the next one a full interval away */
                trace_next_ns += trace_every_ns;
                if (trace_next_ns <= now)
                        trace_next_ns = now + trace_every_ns;
        }
        return trace_next_ns;
}
