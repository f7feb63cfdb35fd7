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
#include "daemon/cli/cli-options.h"
#include "daemon/cli/cli.h"
#include "lib/util/parse.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

enum { OPT_JSON = AP_OPT_OWN };

static void detect_usage(FILE *f)
{
        fputs("Usage: autoprocs detect [--json] [--root DIR] [--pid PID] [--cgroup DIR]\n"
              "                        [--policy go125|ceil|floor|automaxprocs] [--min N] [--reserve CPUS]\n"
              "Report this process's (or PID's, or cgroup DIR's) CPU limit, where it comes from,\n"
              "the CPUs it may run on, the recommended processor count and the throttling so far.\n"
              "  --json          one JSON object (fields: docs/schema/detect.json)\n"
              AP_CLI_SIZING_HELP
              AP_CLI_STD_HELP
              "Exit: 0 ok, 1 no CPU count found, 2 bad usage.\n",
              f);
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
                fprintf(out, "CPU limit:    %s CPU%s (quota %llu us per period %llu us)\n", cpus,
                        strcmp(cpus, "1") == 0 ? "" : "s",
                        (unsigned long long)autoprocs_facts_quota_us(f),
                        (unsigned long long)autoprocs_facts_period_us(f));
                fprintf(out, "  set by:     cgroup %s\n", autoprocs_facts_limit_cgroup(f));
                fprintf(out, "  in file:    %s\n", autoprocs_facts_limit_file(f) ? autoprocs_facts_limit_file(f) : "?");
        } else
                fprintf(out, "CPU limit:    none found (unlimited%s)\n", nw ? "; see the warnings" : "");
        fprintf(out, "affinity:     %u CPU%s\n", autoprocs_facts_affinity_cpus(f),
                AP_CLI_PLURAL(autoprocs_facts_affinity_cpus(f)));
        fprintf(out, "recommended:  %u processor%s (policy %s)\n", autoprocs_facts_procs(f),
                AP_CLI_PLURAL(autoprocs_facts_procs(f)),
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

/* The facts as JSON or as the human report on stdout.  @retval the exit code */
static int detect_print(const autoprocs_facts *facts, bool json)
{
        if (json) {
                char *s = NULL;
                int r = autoprocs_facts_to_json(facts, &s);

                if (r < 0) {
                        fprintf(stderr, "autoprocs detect: %s\n", strerror(-r));
                        return EXIT_FAIL;
                }
                puts(s);
                free(s);
        } else
                report(facts, stdout);
        return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

int ap_cli_detect(int argc, char **argv)
{
        static const struct option opts[] = {
                AP_CLI_STD_OPTIONS,
                AP_CLI_SIZING_OPTIONS,
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        static const ApCli cli = { .name = "detect", .usage_status = EXIT_USAGE, .usage = detect_usage };
        ApCliSizing sz;
        autoprocs_facts *facts = NULL;
        autoprocs_config *config;
        bool json = false;
        int c, r, ret = EXIT_USAGE;

        if (ap_cli_sizing_init(&sz) < 0) {
                fprintf(stderr, "autoprocs detect: %s\n", strerror(ENOMEM));
                return EXIT_FAIL;
        }
        config = sz.config;
        optind = 0;
        while ((c = ap_cli_next(&cli, argc, argv, opts, &ret)) != -1) {
                if (c == -2)
                        goto out;
                r = ap_cli_sizing_option(&cli, &sz, c, optarg);
                if (r < 0)
                        goto out;
                if (r == 0)
                        continue;
                switch (c) {
                case OPT_JSON:
                        json = true;
                        break;
                default:
                        abort(); /* every code of opts[] is handled */
                }
        }
        ret = EXIT_USAGE;
        if (optind < argc) {
                ret = ap_cli_error(&cli, "'%s': unexpected argument (detect takes options only; see "
                                   "autoprocs detect --help)", argv[optind]);
                goto out;
        }
        if (ap_cli_sizing_check(&cli, &sz) < 0)
                goto out;
        r = autoprocs_detect(config, &facts);
        if (r == -ESRCH) {
                ret = ap_cli_error(&cli, "--pid: no process %u%s (expected a running process)", sz.pid,
                                   sz.root ? " below --root" : "");
                goto out;
        }
        if (r == -EACCES && sz.pid > 0 && !sz.root) {
                fprintf(stderr, "autoprocs detect: --pid %u: its cgroup is unknown: /proc/%u/root is not "
                        "accessible (run as its uid and gid, or with CAP_SYS_PTRACE) and our own mounts "
                        "do not show its cgroup\n", sz.pid, sz.pid);
                ret = EXIT_FAIL;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "autoprocs detect: %s\n",
                        r == -ENOENT ? "no CPU count found (no affinity, status or online CPU list)" : strerror(-r));
                ret = EXIT_FAIL;
                goto out;
        }
        ret = detect_print(facts, json);
out:
        autoprocs_facts_free(facts);
        ap_cli_sizing_done(&sz);
        return ret;
}
