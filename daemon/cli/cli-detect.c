/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs detect [--json] [--root DIR] [--pid PID] [--cgroup DIR] [--policy P] [--min N]
 *                   [--reserve CPUS]` (CONTRACT-detect.md).  Public API only.
 * Exit: 0 ok; 1 not even a fallback CPU count; 2 bad usage (one line on stderr naming the argument).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/cli/cli.h"
#include "lib/util/parse.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void detect_usage(FILE *f)
{
        fputs("Usage: autoprocs detect [--json] [--root DIR] [--pid PID] [--cgroup DIR]\n"
              "                        [--policy go125|ceil|floor|automaxprocs] [--min N] [--reserve CPUS]\n"
              "Report this process's (or PID's, or cgroup DIR's) CPU limit, where it comes from,\n"
              "the CPUs it may run on, the recommended processor count and the throttling so far.\n"
              "  --json          one JSON object (fields: CONTRACT-detect.md)\n"
              "  --root DIR      read procfs/sysfs below DIR instead of / (a fixture, /proc/PID/root)\n"
              "  --pid PID       describe process PID instead of this one\n"
              "  --cgroup DIR    describe a cgroup directory instead of a process\n"
              "  --policy P      rounding policy (default go125)\n"
              "  --min N         lowest count any policy may return\n"
              "  --reserve CPUS  CPUs to subtract from the limit before rounding, e.g. 0.5\n",
              f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fputs("autoprocs detect: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_USAGE;
}

/* The limit as a decimal string, exact to 6 places, from integers (no locale). */
static void cpus_string(uint64_t q, uint64_t p, char *buf, size_t size)
{
        unsigned __int128 v = ((unsigned __int128)q * 1000000u + p / 2) / p;
        unsigned long long whole = (unsigned long long)(v / 1000000u), frac = (unsigned long long)(v % 1000000u);
        int n = snprintf(buf, size, "%llu.%06llu", whole, frac);

        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = 0;
}

static void report(const autoprocs_facts *f, FILE *out)
{
        autoprocs_throttling t;
        autoprocs_pressure p;
        size_t nw = autoprocs_facts_warning_count(f);
        const char *path = autoprocs_facts_cgroup_path(f);
        char cpus[64];

        if (autoprocs_facts_cgroup_version(f) == 0)
                fprintf(out, "cgroup:       none holds the cpu controller\n");
        else
                fprintf(out, "cgroup:       v%d %s\n", autoprocs_facts_cgroup_version(f), path ? path : "(unknown)");
        if (autoprocs_facts_has_limit(f)) {
                cpus_string(autoprocs_facts_quota_us(f), autoprocs_facts_period_us(f), cpus, sizeof(cpus));
                fprintf(out, "CPU limit:    %s CPUs (quota %llu us per period %llu us)\n", cpus,
                        (unsigned long long)autoprocs_facts_quota_us(f),
                        (unsigned long long)autoprocs_facts_period_us(f));
                fprintf(out, "  set by:     cgroup %s\n", autoprocs_facts_limit_cgroup(f));
                fprintf(out, "  in file:    %s\n", autoprocs_facts_limit_file(f) ? autoprocs_facts_limit_file(f) : "?");
        } else
                fprintf(out, "CPU limit:    none found (unlimited%s)\n", nw ? "; see the warnings" : "");
        fprintf(out, "affinity:     %u CPUs\n", autoprocs_facts_affinity_cpus(f));
        fprintf(out, "recommended:  %u processors (policy %s)\n", autoprocs_facts_procs(f),
                autoprocs_policy_to_string(autoprocs_facts_policy(f)));
        if (autoprocs_facts_throttling(f, &t) == 0) {
                fprintf(out, "throttling:   %llu of %llu periods throttled, %llu.%06llu s throttled in total\n",
                        (unsigned long long)t.nr_throttled, (unsigned long long)t.nr_periods,
                        (unsigned long long)(t.throttled_usec / 1000000), (unsigned long long)(t.throttled_usec % 1000000));
        } else
                fprintf(out, "throttling:   unknown\n");
        if (autoprocs_facts_pressure(f, &p) == 0) {
                fprintf(out, "pressure:     some avg10=%.2f%% avg60=%.2f%% avg300=%.2f%%", p.some_avg10, p.some_avg60,
                        p.some_avg300);
                if (p.has_full)
                        fprintf(out, "; full avg10=%.2f%% avg60=%.2f%% avg300=%.2f%%", p.full_avg10, p.full_avg60,
                                p.full_avg300);
                fputc('\n', out);
        } else
                fprintf(out, "pressure:     unknown\n");
        if (nw) {
                fprintf(out, "warnings:\n");
                for (size_t i = 0; i < nw; i++)
                        fprintf(out, "  - %s\n", autoprocs_facts_warning(f, i));
        }
}

int ap_cli_detect(int argc, char **argv)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },         { "root", required_argument, NULL, 'R' },
                { "pid", required_argument, NULL, 'P' },    { "cgroup", required_argument, NULL, 'C' },
                { "policy", required_argument, NULL, 'p' }, { "min", required_argument, NULL, 'm' },
                { "reserve", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
                {}
        };
        autoprocs_config *config = NULL;
        autoprocs_facts *facts = NULL;
        const char *root = NULL;
        bool json = false;
        unsigned pid = 0;
        int c, r, ret = EXIT_USAGE;

        r = autoprocs_config_new(&config);
        if (r < 0) {
                fprintf(stderr, "autoprocs detect: %s\n", strerror(-r));
                return EXIT_FAIL;
        }
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                autoprocs_policy pol;
                unsigned v;
                uint64_t m;
                struct stat st;

                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'R':
                        if (!*optarg || stat(optarg, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                ret = usage_error("--root: '%s' is not a directory", optarg);
                                goto out;
                        }
                        root = optarg;
                        (void)autoprocs_config_set_root(config, optarg);
                        break;
                case 'P':
                        if (ap_parse_uint_range(optarg, 1, 0x7fffffff, &v) < 0) {
                                ret = usage_error("--pid: '%s' is not a process id", optarg);
                                goto out;
                        }
                        pid = v;
                        (void)autoprocs_config_set_pid(config, (int)v);
                        break;
                case 'C':
                        if (!*optarg) {
                                ret = usage_error("--cgroup: empty directory");
                                goto out;
                        }
                        (void)autoprocs_config_set_cgroup_dir(config, optarg);
                        break;
                case 'p':
                        if (autoprocs_policy_from_string(optarg, &pol) < 0) {
                                ret = usage_error("--policy: unknown policy '%s' (go125, ceil, floor, automaxprocs)",
                                                  optarg);
                                goto out;
                        }
                        (void)autoprocs_config_set_policy(config, pol);
                        break;
                case 'm':
                        if (ap_parse_uint_range(optarg, 0, 1000000, &v) < 0) {
                                ret = usage_error("--min: '%s' is not a count (0 .. 1000000)", optarg);
                                goto out;
                        }
                        (void)autoprocs_config_set_min(config, v);
                        break;
                case 'r':
                        if (ap_parse_milli(optarg, &m) < 0 || autoprocs_config_set_reserve_millicpus(config, m) < 0) {
                                ret = usage_error("--reserve: '%s' is not a CPU amount (e.g. 0.5, at most 3 decimals)",
                                                  optarg);
                                goto out;
                        }
                        break;
                case 'h':
                        detect_usage(stdout);
                        ret = 0;
                        goto out;
                case ':':
                        ret = usage_error("%s: missing argument", argv[optind - 1]);
                        goto out;
                default:
                        ret = usage_error("unknown option '%s'", argv[optind - 1]);
                        goto out;
                }
        }
        if (optind < argc) {
                ret = usage_error("unexpected argument '%s'", argv[optind]);
                goto out;
        }
        r = autoprocs_detect(config, &facts);
        if (r == -ESRCH) {
                char num[16];

                snprintf(num, sizeof(num), "%u", pid);
                ret = usage_error("--pid: no process %s%s", num, root ? " below --root" : "");
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "autoprocs detect: %s\n",
                        r == -ENOENT ? "no CPU count found (no affinity, status or online CPU list)" : strerror(-r));
                ret = EXIT_FAIL;
                goto out;
        }
        if (json) {
                char *s = NULL;

                r = autoprocs_facts_to_json(facts, &s);
                if (r < 0) {
                        fprintf(stderr, "autoprocs detect: %s\n", strerror(-r));
                        ret = EXIT_FAIL;
                        goto out;
                }
                puts(s);
                free(s);
        } else
                report(facts, stdout);
        ret = fflush(stdout) == 0 ? 0 : EXIT_FAIL;
out:
        autoprocs_facts_free(facts);
        autoprocs_config_free(config);
        return ret;
}
