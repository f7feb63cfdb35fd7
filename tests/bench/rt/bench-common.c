/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the C runtime benchmarks; see bench-common.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

static const char *bench_prog = "bench";
static autoprocs_stats last_stats;
static bool have_stats;

void bench_fail(const char *prog, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", prog ? prog : bench_prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static void usage(FILE *f, const char *prog, uint64_t default_n)
{
        fprintf(f, "usage: %s [--n N] [--procs P]\n"
                   "  --n N      workload size (default %" PRIu64 ")\n"
                   "  --procs P  processors of the runtime (default: CPUs of this process, %u)\n",
                prog, default_n, bench_host_cpus());
}

static bool parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return false;
        *ret = v;
        return true;
}

void bench_parse_args(int argc, char **argv, const char *prog, uint64_t default_n, BenchArgs *ret)
{
        BenchArgs a = { .n = default_n, .procs = bench_host_cpus() };

        bench_prog = prog;
        for (int i = 1; i < argc; i++) {
                const char *opt = argv[i];
                uint64_t v;

                if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
                        usage(stdout, prog, default_n);
                        exit(0);
                }
                if (strcmp(opt, "--n") != 0 && strcmp(opt, "--procs") != 0) {
                        fprintf(stderr, "%s: unknown argument '%s'\n", prog, opt);
                        usage(stderr, prog, default_n);
                        exit(2);
                }
                if (i + 1 >= argc) {
                        fprintf(stderr, "%s: %s needs a value\n", prog, opt);
                        exit(2);
                }
                if (!parse_u64(argv[++i], &v)) {
                        fprintf(stderr, "%s: %s: '%s' is not a non-negative integer\n", prog, opt,
                                argv[i]);
                        exit(2);
                }
                if (strcmp(opt, "--n") == 0) {
                        if (v < 1 || v > UINT64_C(1000000000)) {
                                fprintf(stderr, "%s: --n must be 1 .. 1e9, got %s\n", prog, argv[i]);
                                exit(2);
                        }
                        a.n = v;
                } else {
                        if (v < 1 || v > 1024) {
                                fprintf(stderr, "%s: --procs must be 1 .. 1024, got %s\n", prog,
                                        argv[i]);
                                exit(2);
                        }
                        a.procs = (unsigned)v;
                }
        }
        *ret = a;
}

unsigned bench_host_cpus(void)
{
        cpu_set_t set;
        int n;

        if (sched_getaffinity(0, sizeof(set), &set) == 0) {
                n = CPU_COUNT(&set);
                if (n > 0)
                        return (unsigned)n;
        }
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned)n : 1;
}

uint64_t bench_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

int64_t bench_rss_bytes(void)
{
        FILE *f = fopen("/proc/self/statm", "re");
        long long size, resident;
        int r;

        if (!f)
                bench_fail(NULL, "/proc/self/statm: %s", strerror(errno));
        r = fscanf(f, "%lld %lld", &size, &resident);
        fclose(f);
        if (r != 2)
                bench_fail(NULL, "/proc/self/statm: unexpected content");
        return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

void bench_size_name(uint64_t n, char *buf, size_t size)
{
        uint64_t p = 1;
        int k = 0;

        while (p < n && p <= UINT64_MAX / 10) {
                p *= 10;
                k++;
        }
        if (k > 0 && p == n)
                snprintf(buf, size, "1e%d", k);
        else
                snprintf(buf, size, "%" PRIu64, n);
}

uint64_t bench_spin(uint64_t x, uint64_t iters)
{
        for (uint64_t i = 0; i < iters; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
        }
        return x;
}

static volatile uint64_t calibrate_sink;

uint64_t bench_calibrate(unsigned us)
{
        uint64_t iters = 1000;

        for (;;) {
                uint64_t t0 = bench_now_ns(), el;

                calibrate_sink += bench_spin(UINT64_C(88172645463325252), iters);
                el = bench_now_ns() - t0;
                if (el >= 2000000)
                        return (uint64_t)((double)iters * us * 1e3 / (double)el) + 1;
                iters *= 2;
        }
}

void bench_rt_start(unsigned procs)
{
        ApRtOptions opts = { .procs = procs };
        int r = ap_rt_start(&opts);

        if (r < 0)
                bench_fail(NULL, "ap_rt_start(procs=%u): %s", procs, strerror(-r));
}

void bench_run_root(unsigned procs, autoprocs_task_fn fn, void *arg)
{
        autoprocs_task *root;
        int r;

        bench_rt_start(procs);
        r = autoprocs_spawn(fn, arg, &root);
        if (r < 0)
                bench_fail(NULL, "spawning the root task: %s", strerror(-r));
        r = autoprocs_task_join(root);
        if (r < 0)
                bench_fail(NULL, "joining the root task: %s", strerror(-r));
        have_stats = autoprocs_stats_get(&last_stats, sizeof(last_stats)) == 0;
        ap_rt_stop();
}

void bench_print(const char *name, double value, const char *unit, const char *extra,
                 unsigned procs)
{
        printf("%s %.6g %s%s%s procs=%u", name, value, unit, extra ? " " : "", extra ? extra : "",
               procs);
        /* the runtime's counters after the run (diagnostics; compare-runtime ignores them) */
        if (have_stats)
                printf(" switches=%llu steals=%llu threads=%u handoffs=%llu hogs=%llu",
                       (unsigned long long)last_stats.context_switches,
                       (unsigned long long)last_stats.steals, last_stats.threads,
                       (unsigned long long)last_stats.handoffs,
                       (unsigned long long)last_stats.hogs);
        putchar('\n');
        fflush(stdout);
}

int bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

double bench_quantile(const double *sorted, size_t n, double p)
{
        if (n == 0)
                return 0;
        return sorted[(size_t)(p * (double)(n - 1))];
}
