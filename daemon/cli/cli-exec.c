/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs exec [--policy P] [--min N] [--reserve CPUS] [--root DIR] [--force] [--java]
 *                 -- CMD ARGS...`
 *
 * Sizes a program of another runtime (Go before 1.25, OpenMP, OpenBLAS, MKL, libuv/Node, the JVM)
 * through its environment: detects the recommendation with the public API, sets GOMAXPROCS,
 * OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, UV_THREADPOOL_SIZE and AUTOPROCS_PROCS
 * (each only when unset, unless --force), with --java appends -XX:ActiveProcessorCount=N to
 * JAVA_TOOL_OPTIONS, then execvp()s CMD.  It is an exec, not a parent: CMD keeps our pid, so its
 * exit status and signals reach whoever started us unchanged.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/cli/cli.h"
#include "lib/util/parse.h"

#define EXIT_USAGE 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

static const char *const count_vars[] = {
        "GOMAXPROCS",      "OMP_NUM_THREADS",    "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS", "UV_THREADPOOL_SIZE", "AUTOPROCS_PROCS",
};

static void exec_usage(FILE *f)
{
        fputs("Usage: autoprocs exec [--policy go125|ceil|floor|automaxprocs] [--min N]\n"
              "                      [--reserve CPUS] [--root DIR] [--force] [--java] -- CMD [ARGS...]\n"
              "Run CMD with GOMAXPROCS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,\n"
              "UV_THREADPOOL_SIZE and AUTOPROCS_PROCS set to the recommended processor count\n"
              "(each only if unset, unless --force); --java adds -XX:ActiveProcessorCount=N to\n"
              "JAVA_TOOL_OPTIONS.\n",
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

int ap_cli_exec(int argc, char **argv)
{
        static const struct option opts[] = {
                { "policy", required_argument, NULL, 'p' }, { "min", required_argument, NULL, 'm' },
                { "reserve", required_argument, NULL, 'r' }, { "root", required_argument, NULL, 'R' },
                { "force", no_argument, NULL, 'f' },        { "java", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },         {}
        };
        autoprocs_config *config = NULL;
        autoprocs_facts *facts = NULL;
        bool force = false, java = false, have_procs = false;
        unsigned procs = 0;
        const char *fixed;
        char num[24];
        int c, r;

        r = autoprocs_config_new(&config);
        if (r < 0) {
                fprintf(stderr, "autoprocs exec: %s\n", strerror(-r));
                return EXIT_USAGE;
        }
        optind = 0; /* full reset: the dispatcher may have used getopt already */
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                unsigned v;
                uint64_t m;
                autoprocs_policy pol;

                switch (c) {
                case 'p':
                        if (autoprocs_policy_from_string(optarg, &pol) < 0) {
                                fprintf(stderr, "autoprocs exec: --policy: unknown policy '%s' "
                                        "(go125, ceil, floor, automaxprocs)\n", optarg);
                                goto usage;
                        }
                        (void)autoprocs_config_set_policy(config, pol);
                        break;
                case 'm':
                        if (ap_parse_uint_range(optarg, 0, 1000000, &v) < 0 ||
                            autoprocs_config_set_min(config, v) < 0) {
                                fprintf(stderr, "autoprocs exec: --min: bad count '%s'\n", optarg);
                                goto usage;
                        }
                        break;
                case 'r':
                        if (ap_parse_milli(optarg, &m) < 0 ||
                            autoprocs_config_set_reserve_millicpus(config, m) < 0) {
                                fprintf(stderr, "autoprocs exec: --reserve: bad CPU amount '%s'\n",
                                        optarg);
                                goto usage;
                        }
                        break;
                case 'R':
                        if (autoprocs_config_set_root(config, optarg) < 0) {
                                fprintf(stderr, "autoprocs exec: --root: bad directory '%s'\n", optarg);
                                goto usage;
                        }
                        break;
                case 'f':
                        force = true;
                        break;
                case 'j':
                        java = true;
                        break;
                case 'h':
                        exec_usage(stdout);
                        autoprocs_config_free(config);
                        return 0;
                default:
                        goto usage;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "autoprocs exec: no command given\n");
                goto usage;
        }

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
                facts = autoprocs_facts_free(facts);
        }
        config = autoprocs_config_free(config);

        if (have_procs) {
                (void)snprintf(num, sizeof(num), "%u", procs);
                for (size_t i = 0; i < sizeof(count_vars) / sizeof(count_vars[0]); i++) {
                        const char *old = getenv(count_vars[i]);

                        if (!force && old && *old)
                                continue;
                        if (setenv(count_vars[i], num, 1) < 0) {
                                fprintf(stderr, "autoprocs exec: setenv %s: %s\n", count_vars[i],
                                        strerror(errno));
                                return EXIT_CANNOT_RUN;
                        }
                }
                if (java) {
                        bool changed;
                        char *v = java_options(getenv("JAVA_TOOL_OPTIONS"), procs, force, &changed);

                        if (!v || (changed && setenv("JAVA_TOOL_OPTIONS", v, 1) < 0)) {
                                fprintf(stderr, "autoprocs exec: setting JAVA_TOOL_OPTIONS: %s\n",
                                        strerror(v ? errno : ENOMEM));
                                free(v);
                                return EXIT_CANNOT_RUN;
                        }
                        free(v);
                }
        }

        (void)fflush(NULL);
        execvp(argv[optind], argv + optind);
        r = errno;
        fprintf(stderr, "autoprocs exec: %s: %s\n", argv[optind], strerror(r));
        return r == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;

usage:
        autoprocs_config_free(config);
        exec_usage(stderr);
        return EXIT_USAGE;
}
