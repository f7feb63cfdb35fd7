/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs detect [--json] [--watch [--interval S]] [--root DIR] [--pid PID] [--cgroup DIR]
 *                   [--policy P] [--min N] [--reserve CPUS]`.  Public API only; the JSON object is
 *                   described by docs/schema/detect.json.  --watch uses autoprocs_watch_start().
 * Exit: 0 ok; 1 not even a fallback CPU count; 2 bad usage (one line on stderr naming the argument).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/cli/cli-options.h"
#include "daemon/cli/cli.h"
#include "lib/util/parse.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

enum { OPT_JSON = AP_OPT_OWN, OPT_WATCH, OPT_INTERVAL };

static void detect_usage(FILE *f)
{
        fputs("Usage: autoprocs detect [--json] [--watch [--interval SECONDS]] [--root DIR] [--pid PID]\n"
              "                        [--cgroup DIR] [--policy go125|ceil|floor|automaxprocs] [--min N]\n"
              "                        [--reserve CPUS]\n"
              "Report this process's (or PID's, or cgroup DIR's) CPU limit, where it comes from,\n"
              "the CPUs it may run on, the recommended processor count and the throttling so far.\n"
              "  --json          one JSON object (fields: docs/schema/detect.json)\n"
              "  --watch         keep watching: a line (with --json a JSON object) at start and at\n"
              "                  each change of the answer, until SIGINT or SIGTERM\n"
              "  --interval S    how often --watch reads the limit, in seconds (default 1, 0.01 .. 3600)\n"
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
                uint64_t quota_us = autoprocs_facts_quota_ns(f) / 1000, period_us = autoprocs_facts_period_ns(f) / 1000;

                cpus_string(quota_us, period_us, cpus, sizeof(cpus));
                fprintf(out, "CPU limit:    %s CPU%s (quota %llu us per period %llu us)\n", cpus,
                        strcmp(cpus, "1") == 0 ? "" : "s", (unsigned long long)quota_us,
                        (unsigned long long)period_us);
                fprintf(out, "  set by:     cgroup %s\n", autoprocs_facts_limit_cgroup(f));
                fprintf(out, "  in file:    %s\n", autoprocs_facts_limit_file(f) ? autoprocs_facts_limit_file(f) : "?");
        } else
                fprintf(out, "CPU limit:    none found (unlimited%s)\n", nw ? "; see the warnings" : "");
        fprintf(out, "affinity:     %u CPU%s%s\n", autoprocs_facts_affinity_cpus(f),
                AP_CLI_PLURAL(autoprocs_facts_affinity_cpus(f)),
                !autoprocs_facts_affinity_source(f) ? ""
                : strcmp(autoprocs_facts_affinity_source(f), "cpuset") == 0 ? " (the cgroup's cpuset)"
                                                                            : " (the affinity mask)");
        fprintf(out, "recommended:  %u processor%s (policy %s)\n", autoprocs_facts_procs(f),
                AP_CLI_PLURAL(autoprocs_facts_procs(f)),
                autoprocs_policy_to_string(autoprocs_facts_policy(f)));
        if (autoprocs_facts_throttling(f, &t, sizeof(t)) == 0) {
                fprintf(out, "throttling:   %llu of %llu periods throttled, %llu.%06llu s throttled in total\n",
                        (unsigned long long)t.nr_throttled, (unsigned long long)t.nr_periods,
                        (unsigned long long)(t.throttled_ns / 1000000000),
                        (unsigned long long)(t.throttled_ns % 1000000000 / 1000));
        } else
                fprintf(out, "throttling:   unknown\n");
        if (autoprocs_facts_pressure(f, &p, sizeof(p)) == 0) {
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
        if (autoprocs_facts_note_count(f)) {
                fprintf(out, "notes:\n");
                for (size_t i = 0; i < autoprocs_facts_note_count(f); i++)
                        fprintf(out, "  - %s\n", autoprocs_facts_note(f, i));
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

/* --watch: what the callback needs. */
typedef struct Watching {
        const autoprocs_config *config;
        bool json;
        bool failed;             /* stdout failed (a closed pipe): stop */
} Watching;

static void print_event(const autoprocs_watch_event *ev, void *userdata)
{
        Watching *w = userdata;
        char when[32];
        time_t now = time(NULL);
        struct tm tm;

        if (w->json) {
                autoprocs_facts *facts = NULL;
                char *s = NULL;

                /* The whole answer, as `detect --json` gives it, at the moment of the change. */
                if (autoprocs_detect(w->config, &facts) == 0 && autoprocs_facts_to_json(facts, &s) == 0)
                        printf("%s\n", s);
                free(s);
                autoprocs_facts_free(facts);
        } else {
                (void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
                if (ev->procs == 0)
                        printf("%s unknown: the CPU limit cannot be read (was %u processor%s)\n", when, ev->old_procs,
                               AP_CLI_PLURAL(ev->old_procs));
                else if (ev->has_limit) {
                        char cpus[64];

                        uint64_t quota_us = ev->quota_ns / 1000, period_us = ev->period_ns / 1000;

                        cpus_string(quota_us, period_us, cpus, sizeof(cpus));
                        printf("%s %u processor%s: limit %s CPU%s (quota %llu us per period %llu us), affinity %u "
                               "CPU%s\n", when, ev->procs, AP_CLI_PLURAL(ev->procs), cpus,
                               strcmp(cpus, "1") == 0 ? "" : "s", (unsigned long long)quota_us,
                               (unsigned long long)period_us, ev->affinity_cpus, AP_CLI_PLURAL(ev->affinity_cpus));
                } else
                        printf("%s %u processor%s: no CPU limit, affinity %u CPU%s\n", when, ev->procs,
                               AP_CLI_PLURAL(ev->procs), ev->affinity_cpus, AP_CLI_PLURAL(ev->affinity_cpus));
        }
        if (fflush(stdout) != 0 && !w->failed) {
                w->failed = true;
                (void)kill(getpid(), SIGTERM); /* wakes the main thread's sigwait */
        }
}

/* Print a line at start and at each change until SIGINT or SIGTERM.  @retval the exit status */
static int watch_run(const ApCli *cli, const autoprocs_config *config, bool json)
{
        Watching w = { .config = config, .json = json };
        autoprocs_watch *handle = NULL;
        sigset_t set, old;
        int sig = 0, r;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        (void)signal(SIGPIPE, SIG_IGN);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        r = autoprocs_watch_start(config, print_event, &w, &handle);
        if (r < 0) {
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                fprintf(stderr, "autoprocs %s: cannot watch: %s\n", cli->name, strerror(-r));
                return EXIT_FAIL;
        }
        (void)sigwait(&set, &sig);
        autoprocs_watch_stop(handle);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return w.failed ? EXIT_FAIL : 0;
}

int ap_cli_detect(int argc, char **argv)
{
        static const struct option opts[] = {
                AP_CLI_STD_OPTIONS,
                AP_CLI_SIZING_OPTIONS,
                { "json", no_argument, NULL, OPT_JSON },
                { "watch", no_argument, NULL, OPT_WATCH },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                {}
        };
        static const ApCli cli = { .name = "detect", .usage_status = EXIT_USAGE, .usage = detect_usage };
        ApCliSizing sz;
        autoprocs_facts *facts = NULL;
        autoprocs_config *config;
        bool json = false, watch = false;
        const char *interval = NULL;
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
                case OPT_WATCH:
                        watch = true;
                        break;
                case OPT_INTERVAL: {
                        uint64_t ms;

                        if (ap_parse_milli(optarg, &ms) < 0 || ms < 10 || ms > 3600000 ||
                            autoprocs_config_set_interval_ns(config, ms * 1000000u) < 0) {
                                ret = ap_cli_error(&cli, "--interval: '%s' is not an interval (expected seconds, "
                                                   "0.01 .. 3600, e.g. 0.5)", optarg);
                                goto out;
                        }
                        interval = optarg;
                        break;
                }
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
        if (interval && !watch) {
                ret = ap_cli_error(&cli, "--interval: only with --watch (expected --watch --interval %s)", interval);
                goto out;
        }
        if (ap_cli_sizing_check(&cli, &sz) < 0)
                goto out;
        if (watch) {
                ret = watch_run(&cli, config, json);
                goto out;
        }
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
        if (r == -ENOTDIR) {
                ret = ap_cli_error(&cli, "--cgroup: '%s' is neither a cgroup directory nor the path of a "
                                   "cgroup in a mounted hierarchy (e.g. /sys/fs/cgroup/app or /app)", sz.cgroup);
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
