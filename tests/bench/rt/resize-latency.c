/* SPDX-License-Identifier: MIT */
/*
 * resize_latency: while 2 x procs (at least 4) CPU-bound tasks run, each yielding about every
 * 50 µs of work, the main thread alternates the processor count between procs and 1 (1 and 2
 * when procs is 1) N times, 2 ms apart, and times each change from ap_rt_set_procs() until
 * ap_rt_wait_procs() reports it in force.  Median in µs; p99, max and the runtime's own
 * measure (stats.last_resize_ns, median) as extra fields.  The Go twin times
 * runtime.GOMAXPROCS(n) under the same load.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

#define PROG "bench-resize-latency"
#define MAX_WORKERS 64

static atomic_bool stop;
static uint64_t work_iters;
static _Atomic uint64_t sink;

static void worker(void *arg)
{
        uint64_t x = (uint64_t)(uintptr_t)arg;

        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
                x = bench_spin(x, work_iters);
                autoprocs_yield();
        }
        atomic_fetch_add(&sink, x);
}

int main(int argc, char **argv)
{
        BenchArgs a;
        autoprocs_task *t[MAX_WORKERS];
        unsigned workers, other;
        double *lat, *inner, extra_p99, extra_max;
        char extra[160];
        int r;

        bench_parse_args(argc, argv, PROG, 200, &a);
        other = a.procs == 1 ? 2 : 1;
        workers = a.procs * 2 < 4 ? 4 : a.procs * 2;
        if (workers > MAX_WORKERS)
                workers = MAX_WORKERS;
        lat = calloc(a.n, sizeof(double));
        inner = calloc(a.n, sizeof(double));
        if (!lat || !inner)
                bench_fail(PROG, "out of memory");
        work_iters = bench_calibrate(50);

        bench_rt_start(a.procs);
        for (unsigned w = 0; w < workers; w++) {
                r = autoprocs_spawn(worker, (void *)(uintptr_t)(w + 1), &t[w]);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        for (uint64_t i = 0; i < a.n; i++) {
                unsigned target = i % 2 == 0 ? other : a.procs;
                autoprocs_stats st;
                uint64_t t0 = bench_now_ns();

                r = ap_rt_set_procs(target);
                if (r < 0)
                        bench_fail(PROG, "ap_rt_set_procs(%u): %s", target, strerror(-r));
                r = ap_rt_wait_procs(10000);
                if (r < 0)
                        bench_fail(PROG, "ap_rt_wait_procs after resizing to %u: %s", target,
                                   strerror(-r));
                lat[i] = (double)(bench_now_ns() - t0) / 1e3;
                if (ap_rt_procs() != target)
                        bench_fail(PROG, "%u processors in force, requested %u", ap_rt_procs(),
                                   target);
                inner[i] = autoprocs_stats_get(&st, sizeof(st)) == 0 ? (double)st.last_resize_ns / 1e3 : 0;
                nanosleep(&(struct timespec){ .tv_nsec = 2 * 1000 * 1000 }, NULL);
        }
        (void)ap_rt_set_procs(a.procs);
        atomic_store(&stop, true);
        for (unsigned w = 0; w < workers; w++)
                (void)autoprocs_task_join(t[w]);
        ap_rt_stop();

        qsort(lat, a.n, sizeof(double), bench_cmp_double);
        qsort(inner, a.n, sizeof(double), bench_cmp_double);
        extra_p99 = bench_quantile(lat, a.n, 0.99);
        extra_max = lat[a.n - 1];
        snprintf(extra, sizeof(extra), "p99=%.6g max=%.6g inner_p50=%.6g resizes=%llu", extra_p99,
                 extra_max, bench_quantile(inner, a.n, 0.5), (unsigned long long)a.n);
        bench_print("resize_latency", bench_quantile(lat, a.n, 0.5), "us", extra, a.procs);
        free(lat);
        free(inner);
        return 0;
}
