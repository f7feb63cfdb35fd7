/* SPDX-License-Identifier: MIT */
/*
 * bench-detect-cost: what detection costs, in µs (tests/bench/README.md).
 *
 *   detect_full    one autoprocs_detect() of this process on the live system: parse
 *                  /proc/self/{cgroup,mountinfo}, resolve the cpu hierarchy, open and read every
 *                  level up to the mount root, affinity, cpuset, cpu.stat, PSI (facts freed outside
 *                  the timed part)
 *   detect_reread  one re-read of the already resolved cgroup: ap_limit_chain_read() on a chain
 *                  opened once (a pread per open file, no openat, no allocation: the watcher's tick)
 *
 * Usage: bench-detect-cost [--n N] [--root DIR]
 * Prints "detect_full <median> us ..." and "detect_reread <median> us ..." (the smoke-run format).
 * Each call is timed alone with CLOCK_MONOTONIC; the median of N calls is reported.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoprocs.h"
#include "lib/util/parse.h"
#include "probes/cgroup-limit.h"
#include "probes/cgroup-path.h"
#include "probes/cgroup-resolve.h"
#include "probes/probe.h"

static double now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static void report(const char *name, double *v, unsigned n)
{
        qsort(v, n, sizeof(*v), cmp_double);
        printf("%s %.3f us p10=%.3f p90=%.3f n=%u\n", name, v[n / 2], v[n / 10], v[n * 9 / 10], n);
}

static int bench_full(const char *root, unsigned n, double *v)
{
        autoprocs_config *config = NULL;
        int r;

        r = autoprocs_config_new(&config);
        if (r == 0 && root)
                r = autoprocs_config_set_root(config, root);
        for (unsigned i = 0; r == 0 && i < n; i++) {
                autoprocs_facts *facts = NULL;
                double t0 = now_us();

                r = autoprocs_detect(config, &facts);
                v[i] = now_us() - t0;
                autoprocs_facts_free(facts);
        }
        autoprocs_config_free(config);
        if (r < 0)
                fprintf(stderr, "bench-detect-cost: autoprocs_detect: %s\n", strerror(-r));
        return r;
}

static int bench_reread(const char *root, unsigned n, double *v)
{
        ApProbeRoot pr = AP_PROBE_ROOT_NULL;
        ApCgroupModel model = {};
        ApLimitChain chain = AP_LIMIT_CHAIN_NULL;
        ApWarnings warn = AP_WARNINGS_NULL;
        ApCpuLimit lim;
        size_t failed = 0;
        int r;

        r = ap_probe_root_open(root ? root : "/", 0, root == NULL, &pr);
        if (r < 0) {
                fprintf(stderr, "bench-detect-cost: open %s: %s\n", root ? root : "/", strerror(-r));
                return r;
        }
        r = ap_cgroup_model_read(&pr, &model, &warn);
        if (r == 0)
                r = ap_limit_chain_open(&pr, &model.cpu, &chain, &warn);
        if (r != 0) {
                /* no cpu hierarchy: nothing to re-read; say so instead of timing nothing */
                fprintf(stderr, "bench-detect-cost: no cgroup to re-read (%s)\n",
                        r > 0 ? "no cpu hierarchy" : strerror(-r));
                r = r > 0 ? -ENOENT : r;
        }
        for (unsigned i = 0; r == 0 && i < n; i++) {
                double t0 = now_us();

                r = ap_limit_chain_read(&chain, &lim, &failed, NULL);
                v[i] = now_us() - t0;
        }
        if (r == 0 && failed > 0)
                fprintf(stderr, "bench-detect-cost: %zu level(s) failed to re-read\n", failed);
        ap_limit_chain_done(&chain);
        ap_cgroup_model_done(&model);
        ap_warnings_done(&warn);
        ap_probe_root_done(&pr);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "n", required_argument, NULL, 'n' },
                { "root", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *root = NULL;
        unsigned n = 2000;
        double *v;
        uint64_t u;
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        if (ap_parse_u64(optarg, &u) < 0 || u < 1 || u > 10000000) {
                                fprintf(stderr, "bench-detect-cost: bad --n '%s'\n", optarg);
                                return 2;
                        }
                        n = (unsigned)u;
                        break;
                case 'r':
                        root = optarg;
                        break;
                case 'h':
                        printf("usage: bench-detect-cost [--n N] [--root DIR]\n");
                        return 0;
                default:
                        fprintf(stderr, "usage: bench-detect-cost [--n N] [--root DIR]\n");
                        return 2;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "bench-detect-cost: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        v = calloc(n, sizeof(*v));
        if (!v) {
                fprintf(stderr, "bench-detect-cost: out of memory\n");
                return 1;
        }
        r = bench_full(root, n, v);
        if (r == 0)
                report("detect_full", v, n);
        if (r == 0)
                r = bench_reread(root, n, v);
        if (r == 0)
                report("detect_reread", v, n);
        free(v);
        return r == 0 ? 0 : 1;
}
