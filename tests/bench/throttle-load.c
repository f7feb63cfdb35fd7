/* SPDX-License-Identifier: MIT */
/*
 * throttle-load: the throttling workload of tests/bench/README.md.
 *
 *     throttle-load (--procs N | --auto | --paced) [--workers 4] [--seconds 5]
 *                   [--outside-cpu F] [--json]
 *
 * Runs --workers CPU-bound tasks on the embedded runtime, each yielding after every work unit
 * (30,000 rounds of xorshift64, about 50 µs on the reference 2-core VM; fixed, so work_ops
 * compare across runs and modes), plus one probe task that sleeps 1 ms in a loop and records
 * how late each wake-up is.  --procs N fixes the processor count (ap_rt_start); --auto calls
 * autoprocs_init() with the default configuration (environment applies: pacing is on by default
 * when the limit is fractional); --paced is --auto with pacing forced on
 * (autoprocs_config_set_pacing(AUTOPROCS_PACING_ON)).  --outside-cpu F adds a plain thread
 * outside the runtime that burns F of a CPU (0 < F < 1: busy F of every 10 ms of its own CPU
 * clock), as an application's own thread would.
 *
 * Output: with --json one object {"mode","procs","cpu_seconds","work_ops","late_p50_ms",
 * "late_p99_ms","late_max_ms","pacing","pace_share","pace_held_ms","pace_holds",
 * "pace_signal_holds"} on stdout, else the same as "key: value" lines.
 * cpu_seconds is the process's user + system time over the run (getrusage).
 * Exit status: 0 ok, 1 runtime failure, 2 bad usage or unsupported mode.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

#define PROG "throttle-load"
#define WORK_ITERS 30000
#define PROBE_SLEEP_NS 1000000

typedef struct Worker {
        autoprocs_task *task;
        uint64_t ops;
        uint64_t sink;
        char pad[40];     /* one cache line per worker */
} Worker;

typedef struct Probe {
        autoprocs_task *task;
        double *late_ms;
        size_t n, cap;
} Probe;

static atomic_bool stop;

static void worker(void *arg)
{
        Worker *w = arg;
        uint64_t x = (uint64_t)(uintptr_t)w | 1, ops = 0;

        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
                x = bench_spin(x, WORK_ITERS);
                ops++;
                autoprocs_yield();
        }
        w->ops = ops;
        w->sink = x;
}

static void probe(void *arg)
{
        Probe *p = arg;

        while (!atomic_load_explicit(&stop, memory_order_relaxed) && p->n < p->cap) {
                uint64_t t0 = bench_now_ns(), el;

                autoprocs_sleep_ns(PROBE_SLEEP_NS);
                el = bench_now_ns() - t0;
                p->late_ms[p->n++] = el > PROBE_SLEEP_NS ? (double)(el - PROBE_SLEEP_NS) / 1e6 : 0;
        }
}

/* A thread outside the runtime burning @share of a CPU (by its own CPU clock). */
static void *outside(void *arg)
{
        double share = *(double *)arg;
        uint64_t x = 1;

        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
                struct timespec c0, c, rest;
                double busy_ns = share * 10e6;

                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
                do {
                        x = bench_spin(x, 1000);
                        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
                } while ((double)(c.tv_sec - c0.tv_sec) * 1e9 + (double)(c.tv_nsec - c0.tv_nsec) <
                         busy_ns);
                rest = (struct timespec){ .tv_nsec = (long)((1 - share) * 10e6) };
                nanosleep(&rest, NULL);
        }
        return (void *)(uintptr_t)(x & 1);
}

static double cpu_seconds_now(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static __attribute__((noreturn)) void usage_exit(FILE *f, int status)
{
        fprintf(f, "usage: %s (--procs N | --auto | --paced) [--workers 4] [--seconds 5] "
                   "[--outside-cpu F] [--json]\n", PROG);
        exit(status);
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < lo || v > hi)
                return false;
        *ret = (unsigned)v;
        return true;
}

static bool parse_seconds(const char *s, double *ret)
{
        char *end;
        double v;

        if (!s || ((*s < '0' || *s > '9') && *s != '.'))
                return false;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || *end != '\0' || !(v >= 0.01 && v <= 3600))
                return false;
        *ret = v;
        return true;
}

static const char *need_value(int argc, char **argv, int i)
{
        if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", PROG, argv[i]);
                usage_exit(stderr, 2);
        }
        return argv[i + 1];
}

int main(int argc, char **argv)
{
        const char *mode = NULL;
        unsigned procs = 0, nworkers = 4;
        double seconds = 5, cpu0, cpu, outside_cpu = 0;
        pthread_t outside_thread;
        autoprocs_stats st = { 0 };
        bool json = false;
        Worker *w;
        Probe p = { 0 };
        uint64_t ops = 0;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        usage_exit(stdout, 0);
                } else if (strcmp(a, "--procs") == 0 || strcmp(a, "--auto") == 0 ||
                           strcmp(a, "--paced") == 0) {
                        if (mode) {
                                fprintf(stderr, "%s: %s: only one of --procs, --auto, --paced\n",
                                        PROG, a);
                                return 2;
                        }
                        mode = a + 2;
                        if (strcmp(a, "--procs") == 0) {
                                const char *v = need_value(argc, argv, i++);

                                if (!parse_uint(v, 1, 1024, &procs)) {
                                        fprintf(stderr, "%s: --procs: '%s' is not 1 .. 1024\n",
                                                PROG, v);
                                        return 2;
                                }
                        }
                } else if (strcmp(a, "--workers") == 0) {
                        const char *v = need_value(argc, argv, i++);

                        if (!parse_uint(v, 1, 4096, &nworkers)) {
                                fprintf(stderr, "%s: --workers: '%s' is not 1 .. 4096\n", PROG, v);
                                return 2;
                        }
                } else if (strcmp(a, "--seconds") == 0) {
                        const char *v = need_value(argc, argv, i++);

                        if (!parse_seconds(v, &seconds)) {
                                fprintf(stderr, "%s: --seconds: '%s' is not 0.01 .. 3600\n", PROG,
                                        v);
                                return 2;
                        }
                } else if (strcmp(a, "--outside-cpu") == 0) {
                        const char *v = need_value(argc, argv, i++);
                        char *end;

                        errno = 0;
                        outside_cpu = strtod(v, &end);
                        if (errno != 0 || *end != '\0' || !(outside_cpu > 0 && outside_cpu < 1)) {
                                fprintf(stderr, "%s: --outside-cpu: '%s' is not a share between 0 "
                                                "and 1 (e.g. 0.2)\n", PROG, v);
                                return 2;
                        }
                } else if (strcmp(a, "--json") == 0) {
                        json = true;
                } else {
                        fprintf(stderr, "%s: unknown argument '%s'\n", PROG, a);
                        usage_exit(stderr, 2);
                }
        }
        if (!mode) {
                fprintf(stderr, "%s: one of --procs N, --auto, --paced is required\n", PROG);
                usage_exit(stderr, 2);
        }

        w = calloc(nworkers, sizeof(Worker));
        p.cap = (size_t)(seconds * 1000) + 1000;
        p.late_ms = calloc(p.cap, sizeof(double));
        if (!w || !p.late_ms) {
                fprintf(stderr, "%s: out of memory\n", PROG);
                return 1;
        }

        cpu0 = cpu_seconds_now();
        if (strcmp(mode, "procs") == 0) {
                bench_rt_start(procs);
        } else {
                autoprocs_config *c = NULL;

                if (autoprocs_config_new(&c) < 0 ||
                    autoprocs_config_set_pacing(c, strcmp(mode, "paced") == 0 ? AUTOPROCS_PACING_ON
                                                                              : AUTOPROCS_PACING_AUTO) < 0)
                        bench_fail(PROG, "out of memory");
                r = autoprocs_init(c);
                autoprocs_config_free(c);
                if (r < 0) {
                        fprintf(stderr, "%s: autoprocs_init: %s\n", PROG, strerror(-r));
                        return 1;
                }
                procs = autoprocs_procs();
        }
        if (outside_cpu > 0 && pthread_create(&outside_thread, NULL, outside, &outside_cpu) != 0)
                bench_fail(PROG, "pthread_create failed");

        for (unsigned i = 0; i < nworkers; i++) {
                r = autoprocs_spawn(worker, &w[i], &w[i].task);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        r = autoprocs_spawn(probe, &p, &p.task);
        if (r < 0)
                bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));

        nanosleep(&(struct timespec){ .tv_sec = (time_t)seconds,
                                      .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) },
                  NULL);
        (void)autoprocs_stats_get(&st, sizeof(st));
        atomic_store(&stop, true);
        if (outside_cpu > 0)
                pthread_join(outside_thread, NULL);
        for (unsigned i = 0; i < nworkers; i++) {
                (void)autoprocs_task_join(w[i].task);
                ops += w[i].ops;
        }
        (void)autoprocs_task_join(p.task);

        if (strcmp(mode, "procs") == 0)
                ap_rt_stop();
        else
                autoprocs_shutdown();
        cpu = cpu_seconds_now() - cpu0;

        qsort(p.late_ms, p.n, sizeof(double), bench_cmp_double);
        if (json)
                printf("{\"mode\": \"%s\", \"procs\": %u, \"cpu_seconds\": %.3f, \"work_ops\": %llu, "
                       "\"late_p50_ms\": %.3f, \"late_p99_ms\": %.3f, \"late_max_ms\": %.3f, "
                       "\"pacing\": %s, \"pace_share\": %.3f, \"pace_held_ms\": %.1f, "
                       "\"pace_holds\": %llu, \"pace_signal_holds\": %llu, \"pace_others\": %.3f}\n",
                       mode, procs, cpu, (unsigned long long)ops,
                       bench_quantile(p.late_ms, p.n, 0.5), bench_quantile(p.late_ms, p.n, 0.99),
                       p.n ? p.late_ms[p.n - 1] : 0.0, st.pacing ? "true" : "false",
                       (double)st.pace_share_millicpus / 1000, (double)st.pace_held_ns / 1e6,
                       (unsigned long long)st.pace_holds, (unsigned long long)st.pace_signal_holds,
                       (double)st.pace_others_millicpus / 1000);
        else
                printf("mode: %s\nprocs: %u\ncpu_seconds: %.3f\nwork_ops: %llu\n"
                       "late_p50_ms: %.3f\nlate_p99_ms: %.3f\nlate_max_ms: %.3f\nwakeups: %zu\n"
                       "pacing: %s\npace_share: %.3f\npace_held_ms: %.1f\npace_holds: %llu\n"
                       "pace_signal_holds: %llu\n",
                       mode, procs, cpu, (unsigned long long)ops,
                       bench_quantile(p.late_ms, p.n, 0.5), bench_quantile(p.late_ms, p.n, 0.99),
                       p.n ? p.late_ms[p.n - 1] : 0.0, p.n, st.pacing ? "yes" : "no",
                       (double)st.pace_share_millicpus / 1000, (double)st.pace_held_ns / 1e6,
                       (unsigned long long)st.pace_holds, (unsigned long long)st.pace_signal_holds);
        free(w);
        free(p.late_ms);
        return 0;
}
