/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs exec [SIZING OPTIONS] [--force] [--java] [--quiet] [--] CMD ARGS...`
 *
 * Sizes a program of another runtime (Go, OpenMP, OpenBLAS, MKL, libuv/Node, the JVM) through its
 * environment: detects the recommendation with the public API, sets GOMAXPROCS, OMP_NUM_THREADS,
 * OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, UV_THREADPOOL_SIZE and AUTOPROCS_PROCS (each only when
 * unset, unless --force), with --java appends -XX:ActiveProcessorCount=N to JAVA_TOOL_OPTIONS,
 * then execvp()s CMD.  It is an exec, not a parent: CMD keeps our pid, so its exit status and
 * signals reach whoever started us unchanged.
 *
 * Per runtime: a Go executable's version is read from its build info (cli-go.c); Go 1.25 and
 * later size themselves and follow the limit live, so GOMAXPROCS is left unset when their own
 * answer equals ours and set (saying why) when it would be wrong.  UV_THREADPOOL_SIZE is never
 * below libuv's default of 4.  One line on stderr says what was set and why (--quiet: none).
 *
 * An AUTOPROCS_PROCS already in the environment (and no --force) is the operator's fixed count,
 * as it is for autoprocs_init(): the other variables get that number too.
 *
 * Exit codes of our own, as env(1): 125 bad usage, 126 CMD found but not executable, 127 CMD
 * not found.  When detection fails, one warning line and CMD runs with its environment unchanged:
 * a sizing helper must never be the reason a service does not start.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/cli/cli-go.h"
#include "daemon/cli/cli-options.h"
#include "daemon/cli/cli.h"
#include "daemon/common/procs-env.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"

#define EXIT_USAGE 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

enum { OPT_FORCE = AP_OPT_OWN, OPT_JAVA, OPT_QUIET };

static void exec_usage(FILE *f)
{
        fputs("Usage: autoprocs exec [--policy go125|ceil|floor|automaxprocs] [--min N] [--reserve CPUS]\n"
              "                      [--root DIR] [--pid PID] [--cgroup DIR] [--force] [--java] [--quiet]\n"
              "                      [--] CMD [ARGS...]\n"
              "Run CMD with GOMAXPROCS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,\n"
              "UV_THREADPOOL_SIZE and AUTOPROCS_PROCS set to the recommended processor count\n"
              "(each only if unset, unless --force).\n"
              AP_CLI_SIZING_HELP
              "  --force         replace values already in the environment\n"
              "  --java          add -XX:ActiveProcessorCount=N to JAVA_TOOL_OPTIONS\n"
              "  --quiet         do not print the line saying what was set and why\n"
              AP_CLI_STD_HELP
              "Exit: CMD's status; 125 bad usage, 126 CMD not executable, 127 CMD not found.\n",
              f);
}

/* Replace (or add) -XX:ActiveProcessorCount=N in a JAVA_TOOL_OPTIONS value.  Malloc'd. */
static char *java_options(const char *old, unsigned procs, bool force, bool *ret_changed)
{
        static const char key[] = "-XX:ActiveProcessorCount=";
        size_t len = old ? strlen(old) : 0;
        char *out, *w;
        const char *p;

        *ret_changed = false;
        if (old && strstr(old, key) && !force)
                return strdup(old);
        out = malloc(len + sizeof(key) + 24);
        if (!out)
                return NULL;
        *ret_changed = true;
        if (!old || !strstr(old, key)) {
                /* Keep the user's text as it is; only append. */
                (void)sprintf(out, "%s%s%s%u", old ? old : "", old && *old ? " " : "", key, procs);
                return out;
        }
        w = out;
        /* Copy every whitespace-separated token except an older ActiveProcessorCount. */
        for (p = old ? old : ""; *p;) {
                size_t tl;

                while (*p == ' ' || *p == '\t')
                        p++;
                tl = strcspn(p, " \t");
                if (tl == 0)
                        break;
                if (strncmp(p, key, sizeof(key) - 1) != 0) {
                        if (w != out)
                                *w++ = ' ';
                        memcpy(w, p, tl);
                        w += tl;
                }
                p += tl;
        }
        (void)sprintf(w, "%s%s%u", w != out ? " " : "", key, procs);
        return out;
}

/* libuv's thread pool size when UV_THREADPOOL_SIZE is unset. */
#define UV_POOL_DEFAULT 4u

/* A line being built; silently truncated at its size (it is a message). */
typedef struct Note {
        char s[1536];
        size_t n;
} Note;

static void note(Note *n, const char *fmt, ...) AP_PRINTF(2, 3);
static void note(Note *n, const char *fmt, ...)
{
        va_list ap;
        int k;

        if (n->n >= sizeof(n->s) - 1)
                return;
        va_start(ap, fmt);
        k = vsnprintf(n->s + n->n, sizeof(n->s) - n->n, fmt, ap);
        va_end(ap);
        if (k > 0)
                n->n = AP_MIN(n->n + (size_t)k, sizeof(n->s) - 1);
}

/* @cmd as execvp() finds it (malloc'd), NULL if not found. */
static char *find_command(const char *cmd)
{
        const char *path = getenv("PATH");
        char *copy, *dir, *save = NULL, *found = NULL;

        if (strchr(cmd, '/'))
                return strdup(cmd);
        copy = strdup(path && *path ? path : "/bin:/usr/bin");
        if (!copy)
                return NULL;
        for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", *dir ? dir : ".", cmd) < 0)
                        break;
                if (access(p, X_OK) == 0)
                        found = p;
                else
                        free(p);
        }
        free(copy);
        return found;
}

/* Go 1.25's own default on a limit it reads: min(A, max(2, ceil(Q))), 1 when A is 1. */
static unsigned go125_answer(const autoprocs_facts *f)
{
        unsigned a = autoprocs_facts_affinity_cpus(f);
        uint64_t q = autoprocs_facts_quota_ns(f), p = autoprocs_facts_period_ns(f), c;

        if (!autoprocs_facts_has_limit(f) || p == 0 || a <= 1)
                return a;
        c = (q + p - 1) / p;
        c = c < 2 ? 2 : c;
        return c < a ? (unsigned)c : a;
}

/*
 * Whether to set GOMAXPROCS for @cmd.  Go 1.25 and later size themselves from the limit of their
 * own cgroup (ceil of its quota, at least 2, at most the affinity) and follow it live, which an
 * explicit GOMAXPROCS turns off: leave it unset when that answer equals ours, set it where Go
 * would be wrong (a limit on an ancestor, a cgroup outside the namespace's root, another policy).
 * Appends the reason to @why.
 */
static bool go_plan(const char *cmd, const autoprocs_facts *f, unsigned procs, Note *why)
{
        _cleanup_free_ char *path = find_command(cmd);
        const char *cg, *lim;
        char version[64];
        unsigned go;
        int r;

        if (!path || ap_go_version_read(path, version, sizeof(version)) < 0)
                return true; /* not a Go executable (a script may still start one) */
        r = ap_go_version_at_least(version, 1, 25);
        if (r <= 0) {
                note(why, "; %s %s CPU limits itself", version,
                     r == 0 ? "is older than go1.25, which reads no" : "is not a release: assumed to read no");
                return true;
        }
        if (!f) {
                note(why, "; GOMAXPROCS=%u for %s: the operator's AUTOPROCS_PROCS fixes the count", procs,
                     version);
                return true;
        }
        cg = autoprocs_facts_cgroup_path(f);
        lim = autoprocs_facts_limit_cgroup(f);
        if (cg && strncmp(cg, "/..", 3) == 0) {
                note(why, "; GOMAXPROCS set for %s: its cgroup %s is outside the cgroup namespace's root, "
                     "where Go finds no limit", version, cg);
                return true;
        }
        if (autoprocs_facts_has_limit(f) && (!cg || !lim || strcmp(cg, lim) != 0)) {
                note(why, "; GOMAXPROCS set for %s: the limit is on %s, above its cgroup %s, and Go reads "
                     "only its own cgroup", version, lim ? lim : "?", cg ? cg : "?");
                return true;
        }
        go = go125_answer(f);
        if (go != procs) {
                note(why, "; GOMAXPROCS set for %s: Go would choose %u, the policy here %u", version, go, procs);
                return true;
        }
        note(why, "; GOMAXPROCS left to %s: it finds %u itself and follows the limit live", version, go);
        return false;
}

/* The one line: what was set, why, what was kept. */
static void say(const Note *set, const Note *kept, const Note *why, unsigned procs, const autoprocs_facts *f)
{
        Note line = { 0 };

        note(&line, "autoprocs exec: %s%s%u processor%s", set->n ? set->s : "nothing set", set->n ? ": " : " for ",
             procs, AP_CLI_PLURAL(procs));
        if (!f)
                note(&line, " (AUTOPROCS_PROCS)");
        else if (autoprocs_facts_has_limit(f))
                note(&line, " (limit %.3g CPUs on cgroup %s, affinity %u CPU%s, policy %s)",
                     autoprocs_facts_limit_cpus(f), autoprocs_facts_limit_cgroup(f),
                     autoprocs_facts_affinity_cpus(f), AP_CLI_PLURAL(autoprocs_facts_affinity_cpus(f)),
                     autoprocs_policy_to_string(autoprocs_facts_policy(f)));
        else
                note(&line, " (no CPU limit, affinity %u CPU%s, policy %s)", autoprocs_facts_affinity_cpus(f),
                     AP_CLI_PLURAL(autoprocs_facts_affinity_cpus(f)),
                     autoprocs_policy_to_string(autoprocs_facts_policy(f)));
        if (why->n)
                note(&line, "%s", why->s);
        if (kept->n)
                note(&line, "; kept %s (already set; --force replaces)", kept->s);
        fprintf(stderr, "%s\n", line.s);
}

int ap_cli_exec(int argc, char **argv)
{
        static const struct option opts[] = {
                AP_CLI_STD_OPTIONS,
                AP_CLI_SIZING_OPTIONS,
                { "force", no_argument, NULL, OPT_FORCE },
                { "java", no_argument, NULL, OPT_JAVA },
                { "quiet", no_argument, NULL, OPT_QUIET },
                {}
        };
        static const ApCli cli = { .name = "exec", .usage_status = EXIT_USAGE, .usage = exec_usage };
        ApCliSizing sz;
        autoprocs_config *config;
        autoprocs_facts *facts = NULL;
        bool force = false, java = false, quiet = false, have_procs = false;
        unsigned procs = 0;
        const char *fixed;
        char num[24];
        int c, r, status;

        if (ap_cli_sizing_init(&sz) < 0) {
                fprintf(stderr, "autoprocs exec: %s\n", strerror(ENOMEM));
                return EXIT_USAGE;
        }
        config = sz.config;
        optind = 0; /* full reset: the dispatcher may have used getopt already */
        while ((c = ap_cli_next(&cli, argc, argv, opts, &status)) != -1) {
                if (c == -2)
                        goto done;
                r = ap_cli_sizing_option(&cli, &sz, c, optarg);
                if (r < 0) {
                        status = EXIT_USAGE;
                        goto done;
                }
                if (r == 0)
                        continue;
                switch (c) {
                case OPT_FORCE:
                        force = true;
                        break;
                case OPT_JAVA:
                        java = true;
                        break;
                case OPT_QUIET:
                        quiet = true;
                        break;
                default:
                        abort(); /* every code of opts[] is handled */
                }
        }
        status = EXIT_USAGE;
        if (optind >= argc) {
                (void)ap_cli_error(&cli, "no command given (expected autoprocs exec [OPTIONS] -- CMD [ARGS...])");
                goto done;
        }
        if (ap_cli_sizing_check(&cli, &sz) < 0)
                goto done;

        /* The operator's fixed count wins unless --force asks for a fresh detection. */
        fixed = getenv("AUTOPROCS_PROCS");
        if (fixed && *fixed && !force) {
                if (ap_parse_uint_range(fixed, 1, 1000000, &procs) == 0) {
                        have_procs = true;
                } else {
                        fprintf(stderr, "autoprocs exec: AUTOPROCS_PROCS=\"%s\" is not a processor "
                                "count; detecting instead\n", fixed);
                }
        }
        if (!have_procs) {
                r = autoprocs_detect(config, &facts);
                if (r < 0) {
                        fprintf(stderr, "autoprocs exec: cannot detect the CPU limit (%s); "
                                "running %s with its environment unchanged\n", strerror(-r),
                                argv[optind]);
                } else {
                        procs = autoprocs_facts_procs(facts);
                        have_procs = procs > 0;
                }
        }

        if (have_procs) {
                Note set = { 0 }, kept = { 0 }, why = { 0 };

                (void)snprintf(num, sizeof(num), "%u", procs);
                for (size_t i = 0; i < AP_PROCS_ENV_N; i++) {
                        const char *name = ap_procs_env_vars[i], *old = getenv(name);
                        char value[24];

                        if (!force && old && *old) {
                                note(&kept, "%s%s=%s", kept.n ? " " : "", name, old);
                                continue;
                        }
                        (void)snprintf(value, sizeof(value), "%s", num);
                        if (strcmp(name, "GOMAXPROCS") == 0 && !go_plan(argv[optind], facts, procs, &why))
                                continue;
                        if (strcmp(name, "UV_THREADPOOL_SIZE") == 0 && procs < UV_POOL_DEFAULT) {
                                /* The pool runs blocking file, DNS and crypto work, not CPU-bound
                                 * JavaScript: fewer than libuv's default only makes Node slower. */
                                (void)snprintf(value, sizeof(value), "%u", UV_POOL_DEFAULT);
                                note(&why, "; UV_THREADPOOL_SIZE=%u is libuv's default (never fewer)",
                                     UV_POOL_DEFAULT);
                        }
                        if (setenv(name, value, 1) < 0) {
                                fprintf(stderr, "autoprocs exec: setenv %s: %s\n", name, strerror(errno));
                                status = EXIT_CANNOT_RUN;
                                goto done;
                        }
                        note(&set, "%s%s=%s", set.n ? " " : "", name, value);
                }
                if (java) {
                        bool changed;
                        char *v = java_options(getenv("JAVA_TOOL_OPTIONS"), procs, force, &changed);

                        if (!v || (changed && setenv("JAVA_TOOL_OPTIONS", v, 1) < 0)) {
                                fprintf(stderr, "autoprocs exec: setting JAVA_TOOL_OPTIONS: %s\n",
                                        strerror(v ? errno : ENOMEM));
                                free(v);
                                status = EXIT_CANNOT_RUN;
                                goto done;
                        }
                        if (changed)
                                note(&set, "%sJAVA_TOOL_OPTIONS=\"%s\"", set.n ? " " : "", v);
                        else
                                note(&kept, "%sJAVA_TOOL_OPTIONS=\"%s\"", kept.n ? " " : "", v);
                        free(v);
                }
                if (!quiet)
                        say(&set, &kept, &why, procs, facts);
        }
        facts = autoprocs_facts_free(facts);
        ap_cli_sizing_done(&sz);

        (void)fflush(NULL);
        execvp(argv[optind], argv + optind);
        r = errno;
        fprintf(stderr, "autoprocs exec: %s: %s\n", argv[optind], strerror(r));
        return r == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;

done:
        autoprocs_facts_free(facts);
        ap_cli_sizing_done(&sz);
        return status;
}
