/* SPDX-License-Identifier: MIT */
/*
 * hol_2hogs_N (head-of-line blocking): on P processors (2 in compare-runtime), P tasks each
 * spin for 1 s of wall time without a scheduling point; once they all run and 100 ms more have
 * passed, the main thread spawns N short tasks, each noting when it starts.  Value: p99 of the
 * delay from spawn to start, in ms; p50_ms and max_ms as extra fields, with the runtime's hog
 * hand-offs.  The Go twin does the same from its main goroutine (GOMAXPROCS = P), where
 * asynchronous preemption every 10 ms lets the short goroutines in.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

#define PROG "bench-hol"
#define HOG_NS 1000000000ull
#define SETTLE_NS 100000000ull

static _Atomic unsigned hogs_started;
static _Atomic uint64_t shorts_done;
static uint64_t *spawned_ns, *started_ns;

static void hog(void *arg)
{
        uint64_t t0 = bench_now_ns();

        (void)arg;
        atomic_fetch_add(&hogs_started, 1);
        while (bench_now_ns() - t0 < HOG_NS)
                ;
}

static void short_task(void *arg)
{
        uint64_t i = (uint64_t)(uintptr_t)arg;

        started_ns[i] = bench_now_ns();
        atomic_fetch_add_explicit(&shorts_done, 1, memory_order_release);
}

static void sleep_ns(uint64_t ns)
{
        struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
                               .tv_nsec = (long)(ns % 1000000000u) };

        while (nanosleep(&ts, &ts) < 0)
                ;
}

int main(int argc, char **argv)
{
        BenchArgs a;
        autoprocs_task **hogs;
        autoprocs_stats st;
        double *lat;
        char name[64], extra[160];
        int r;

        bench_parse_args(argc, argv, PROG, 200, &a);
        hogs = calloc(a.procs, sizeof(*hogs));
        spawned_ns = calloc(a.n, sizeof(uint64_t));
        started_ns = calloc(a.n, sizeof(uint64_t));
        lat = calloc(a.n, sizeof(double));
        if (!hogs || !spawned_ns || !started_ns || !lat)
                bench_fail(PROG, "out of memory");

        bench_rt_start(a.procs);
        for (unsigned i = 0; i < a.procs; i++) {
                r = autoprocs_spawn(hog, NULL, &hogs[i]);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        while (atomic_load(&hogs_started) < a.procs)
                sleep_ns(100000);
        sleep_ns(SETTLE_NS);
        for (uint64_t i = 0; i < a.n; i++) {
                spawned_ns[i] = bench_now_ns();
                r = autoprocs_spawn(short_task, (void *)(uintptr_t)i, NULL);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        while (atomic_load_explicit(&shorts_done, memory_order_acquire) < a.n)
                sleep_ns(100000);
        if (autoprocs_stats_get(&st, sizeof(st)) < 0)
                bench_fail(PROG, "autoprocs_stats_get failed");
        for (unsigned i = 0; i < a.procs; i++)
                (void)autoprocs_task_join(hogs[i]);
        ap_rt_stop();

        for (uint64_t i = 0; i < a.n; i++)
                lat[i] = (double)(started_ns[i] - spawned_ns[i]) / 1e6;
        qsort(lat, a.n, sizeof(double), bench_cmp_double);
        snprintf(name, sizeof(name), "hol_%uhogs_%llu", a.procs, (unsigned long long)a.n);
        snprintf(extra, sizeof(extra), "p50_ms=%.4g max_ms=%.4g hogs=%llu hog_handoffs=%llu",
                 bench_quantile(lat, a.n, 0.5), lat[a.n - 1], (unsigned long long)st.hogs,
                 (unsigned long long)st.hog_handoffs);
        bench_print(name, bench_quantile(lat, a.n, 0.99), "ms", extra, a.procs);
        free(hogs);
        free(spawned_ns);
        free(started_ns);
        free(lat);
        return 0;
}
