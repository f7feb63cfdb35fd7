/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs run --cpus Q [--period-us P] [--cpuset LIST] [--json] -- CMD [ARGS...]`
 *
 * Reproduces a container's CPU limit on any Linux machine: creates a fresh cgroup
 * autoprocs-run-<pid> (cgroup v1 with libcgroup: cpu + cpuacct, + cpuset with --cpuset; v2 with
 * run-cgroup2.c: cpu.max, cpuset.cpus, inside a container's namespace root too), runs CMD inside it (fork, attach the child, exec), forwards SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT that were sent to us alone, and after CMD exits prints what the limit did, as time(1)
 * does: CPU used, periods, throttled periods, throttled seconds.  --json prints instead the one
 * line (tests/bench/README.md) on stderr:
 *     {"cpus","cpu_seconds","nr_periods","nr_throttled","throttled_seconds","exit_status"}
 * The cgroup is removed afterwards in every case (CMD failed, CMD killed, Ctrl-C).
 *
 * cpu.stat of the new cgroup is read through the public detection API
 * (autoprocs_config_set_cgroup_dir + autoprocs_facts_throttling), never parsed here.
 *
 * Exit: CMD's status (128 + N when killed by signal N); 125 bad usage or cgroup failure (one line
 * saying why, e.g. not root), 126 CMD not executable, 127 CMD not found.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libcgroup.h>

#include "autoprocs.h"
#include "daemon/cli/cli-options.h"
#include "daemon/cli/cli.h"
#include "daemon/cli/run-cgroup2.h"
#include "lib/util/cleanup.h"
#include "lib/util/parse.h"

#define EXIT_USAGE 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

enum { OPT_CPUS = AP_OPT_OWN, OPT_PERIOD, OPT_CPUSET, OPT_JSON };

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;  /* arrived before the child existed */

static void run_usage(FILE *f)
{
        fputs("Usage: autoprocs run --cpus Q [--period-us P] [--cpuset LIST] [--json] [--] CMD [ARGS...]\n"
              "Run CMD in a fresh cgroup limited to Q CPUs (quota Q*P per period P, default\n"
              "P = 100000 us), then print CPU used, periods, throttled periods and seconds on\n"
              "stderr (--json: one JSON line).  Needs root or a writable cgroup hierarchy.\n"
              "  --cpus Q        CPUs, 0.001 .. the machine's online CPUs, at most 3 decimals\n"
              "  --period-us P   the enforcement period, 1000 .. 1000000 us\n"
              "  --cpuset LIST   CPUs CMD may run on, e.g. 0-1,3 (a subset of this process's)\n"
              "  --json          the summary as one JSON line\n"
              AP_CLI_STD_HELP
              "Exit: CMD's status (128+N if killed by signal N); 125 bad usage or no cgroup,\n"
              "126 CMD not executable, 127 CMD not found.\n",
              f);
}

/* libcgroup would print its own errors on stderr: we say once, ourselves, what failed. */
static void quiet_logger(void *userdata, int level, const char *fmt, va_list ap)
{
        (void)userdata;
        (void)level;
        (void)fmt;
        (void)ap;
}

/*
 * Forward a signal sent to us alone.  A terminal's Ctrl-C (si_code SI_KERNEL) already reached
 * the child, which shares our process group: sending it again would deliver it twice.
 */
static void forward_signal(int sig, siginfo_t *si, void *uctx)
{
        (void)uctx;
        if (si && si->si_code == SI_KERNEL)
                return;
        if (child_pid > 0)
                (void)kill((pid_t)child_pid, sig);
        else
                pending_signal = sig;
}

static const char *cg_strerror(int r)
{
        if (r == ECGOTHER)
                return strerror(cgroup_get_last_errno());
        return cgroup_strerror(r);
}

static bool cg_not_permitted(int r)
{
        int e = r == ECGOTHER ? cgroup_get_last_errno() : 0;

        return r == ECGROUPNOTOWNER || r == ECGROUPNOTALLOWED || e == EACCES || e == EPERM ||
               e == EROFS;
}

/* Which cgroup version holds the cpu controller for us, and our cgroup there (public detection
 * API; *ret_path as /proc/self/cgroup has it, malloc'd, NULL when unknown). */
static int cpu_cgroup_version(char **ret_path)
{
        autoprocs_facts *facts = NULL;
        const char *path;
        int v = 0;

        *ret_path = NULL;
        if (autoprocs_detect(NULL, &facts) == 0) {
                v = autoprocs_facts_cgroup_version(facts);
                path = autoprocs_facts_cgroup_path(facts);
                if (path)
                        *ret_path = strdup(path);
        }
        autoprocs_facts_free(facts);
        return v;
}

/* cpuset.mems of the hierarchy root: a v1 cpuset cgroup cannot take tasks before it is set. */
static int root_cpuset_mems(char **ret)
{
        struct cgroup *root = cgroup_new_cgroup("/");
        struct cgroup_controller *c;
        int r;

        if (!root)
                return ECGFAIL;
        /* cgroup_get_cgroup() fills the controllers itself from every hierarchy. */
        r = cgroup_get_cgroup(root);
        if (r == 0) {
                c = cgroup_get_controller(root, "cpuset");
                r = c ? cgroup_get_value_string(c, "cpuset.mems", ret) : ECGROUPVALUENOTEXIST;
        }
        cgroup_free(&root);
        return r;
}

typedef struct RunSpec {
        uint64_t millicpus;
        uint64_t period_us;
        uint64_t quota_us;
        const char *cpuset;
        bool json;
        int version;
        char *own_path;   /* our cgroup in the cpu hierarchy, as /proc/self/cgroup has it */
} RunSpec;

/* The new cgroup: libcgroup's description (v1) or our own directory (v2, run-cgroup2.c). */
typedef struct RunCgroup {
        struct cgroup *v1;
        ApRunCg2 v2;
} RunCgroup;

/* Build the v1 cgroup description; nothing is created yet. */
static int describe_cgroup(const char *name, const RunSpec *spec, struct cgroup **ret)
{
        struct cgroup *cg = cgroup_new_cgroup(name);
        struct cgroup_controller *c;
        _cleanup_free_ char *mems = NULL, *mnt = NULL;
        int r = ECGFAIL;

        if (!cg)
                return ECGFAIL;
        c = cgroup_add_controller(cg, "cpu");
        if (!c)
                goto fail;
        /* Period first: the kernel checks quota against the period in force. */
        r = cgroup_add_value_uint64(c, "cpu.cfs_period_us", spec->period_us);
        if (r == 0)
                r = cgroup_add_value_int64(c, "cpu.cfs_quota_us", (int64_t)spec->quota_us);
        if (r)
                goto fail;
        /* Usage (cpuacct.usage) for the summary, where a cpuacct hierarchy exists. */
        if (cgroup_get_subsys_mount_point("cpuacct", &mnt) == 0 && mnt && !cgroup_get_controller(cg, "cpuacct"))
                (void)cgroup_add_controller(cg, "cpuacct");
        if (spec->cpuset) {
                c = cgroup_add_controller(cg, "cpuset");
                if (!c)
                        goto fail;
                r = cgroup_add_value_string(c, "cpuset.cpus", spec->cpuset);
                if (r)
                        goto fail;
                r = root_cpuset_mems(&mems);
                if (r)
                        goto fail;
                r = cgroup_add_value_string(c, "cpuset.mems", mems);
                if (r)
                        goto fail;
        }
        *ret = cg;
        return 0;
fail:
        cgroup_free(&cg);
        return r ? r : ECGFAIL;
}

/* Absolute directory of @name in the cpu hierarchy, for the public detection API. */
static char *cpu_cgroup_dir(const char *name)
{
        char *mnt = NULL, *dir = NULL;

        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt)
                return NULL;
        if (asprintf(&dir, "%s/%s", mnt, name) < 0)
                dir = NULL;
        free(mnt);
        return dir;
}

static void print_summary(const RunSpec *spec, bool have, const autoprocs_throttling *t,
                          double cpu_seconds, int exit_status)
{
        double cpus = (double)spec->millicpus / 1000.0;
        double throttled = have ? (double)t->throttled_ns / 1e9 : 0.0;

        if (spec->json) {
                fprintf(stderr,
                        "{\"cpus\":%.3f,\"cpu_seconds\":%.6f,\"nr_periods\":%llu,"
                        "\"nr_throttled\":%llu,\"throttled_seconds\":%.6f,\"exit_status\":%d}\n",
                        cpus, cpu_seconds, have ? (unsigned long long)t->nr_periods : 0ULL,
                        have ? (unsigned long long)t->nr_throttled : 0ULL, throttled, exit_status);
                return;
        }
        fprintf(stderr, "autoprocs run: %.3f CPUs (quota %llu us per %llu us period)\n", cpus,
                (unsigned long long)spec->quota_us, (unsigned long long)spec->period_us);
        fprintf(stderr, "  cpu used          %.3f s\n", cpu_seconds);
        if (have) {
                fprintf(stderr, "  periods           %llu\n", (unsigned long long)t->nr_periods);
                fprintf(stderr, "  throttled periods %llu (%.1f %%)\n",
                        (unsigned long long)t->nr_throttled,
                        t->nr_periods ? 100.0 * (double)t->nr_throttled / (double)t->nr_periods : 0.0);
                fprintf(stderr, "  throttled time    %.3f s\n", throttled);
        } else {
                fprintf(stderr, "  throttling        unknown (cpu.stat not readable)\n");
        }
        fprintf(stderr, "  exit status       %d\n", exit_status);
}

/*
 * The cgroup's numbers, through the public API.  CPU used comes from the cgroup's usage when the
 * detection found it (it also counts descendants CMD did not wait for), else from our rusage of
 * the waited child tree.
 */
static void report(const RunSpec *spec, const char *name, const struct rusage *ru, int exit_status)
{
        autoprocs_config *config = NULL;
        autoprocs_facts *facts = NULL;
        autoprocs_throttling t = {};
        _cleanup_free_ char *dir = cpu_cgroup_dir(name);
        double cpu_seconds;
        bool have = false;

        cpu_seconds = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
                      (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
        if (dir && autoprocs_config_new(&config) == 0 &&
            autoprocs_config_set_cgroup_dir(config, dir) == 0 &&
            autoprocs_detect(config, &facts) == 0 && autoprocs_facts_throttling(facts, &t, sizeof(t)) == 0) {
                have = true;
                if (t.has_usage)
                        cpu_seconds = (double)t.usage_ns / 1e9;
        }
        autoprocs_facts_free(facts);
        autoprocs_config_free(config);
        print_summary(spec, have, &t, cpu_seconds, exit_status);
}

/* The CPUs this process may run on (the new cgroup's tasks inherit them); NULL if unknown. */
static cpu_set_t *allowed_cpus(size_t *ret_size)
{
        for (unsigned n = 1024; n <= (1u << 20); n *= 2) {
                size_t size = CPU_ALLOC_SIZE(n);
                cpu_set_t *set = CPU_ALLOC(n);

                if (!set)
                        return NULL;
                if (sched_getaffinity(0, size, set) == 0) {
                        *ret_size = size;
                        return set;
                }
                CPU_FREE(set);
                if (errno != EINVAL)
                        return NULL;
        }
        return NULL;
}

/* The allowed CPUs as a list ("0-1,3") into @buf. */
static void format_cpus(const cpu_set_t *set, size_t size, char *buf, size_t bufsize)
{
        size_t n = 0, max = size * 8;

        buf[0] = 0;
        for (size_t i = 0; i < max && n + 24 < bufsize; i++) {
                size_t j = i;

                if (!CPU_ISSET_S(i, size, set))
                        continue;
                while (j + 1 < max && CPU_ISSET_S(j + 1, size, set))
                        j++;
                n += (size_t)snprintf(buf + n, bufsize - n, j > i ? "%s%zu-%zu" : "%s%zu", n ? "," : "", i, j);
                i = j;
        }
}

/* Check the --cpuset list: syntax, and every CPU one we may use (else the kernel's ERANGE). */
static int check_cpuset(const ApCli *cli, const char *list, const cpu_set_t *allowed, size_t size)
{
        char have[256];
        const char *p = list;

        if (allowed)
                format_cpus(allowed, size, have, sizeof(have));
        else
                (void)snprintf(have, sizeof(have), "?");
        for (;;) {
                uint64_t a, b;
                char *end;

                if (*p < '0' || *p > '9')
                        goto bad;
                errno = 0;
                a = b = strtoull(p, &end, 10);
                if (errno || a > 65535)
                        goto bad;
                p = end;
                if (*p == '-') {
                        p++;
                        if (*p < '0' || *p > '9')
                                goto bad;
                        b = strtoull(p, &end, 10);
                        if (errno || b > 65535 || b < a)
                                goto bad;
                        p = end;
                }
                for (uint64_t c = a; c <= b; c++) {
                        if (allowed && (c >= size * 8 || !CPU_ISSET_S(c, size, allowed)))
                                return ap_cli_error(cli, "--cpuset: CPU %llu is not one this process may run on "
                                                    "(expected CPUs within %s)", (unsigned long long)c, have),
                                       -EINVAL;
                }
                if (*p == '\0')
                        break;
                if (*p++ != ',')
                        goto bad;
        }
        return 0;
bad:
        (void)ap_cli_error(cli, "--cpuset: '%s' is not a CPU list (expected e.g. 0-1,3 within %s)", list, have);
        return -EINVAL;
}

/* @retval 0 run  @retval 1 --help/--version printed  @retval -EINVAL usage error printed */
static int parse_args(int argc, char **argv, RunSpec *spec)
{
        static const struct option opts[] = {
                AP_CLI_STD_OPTIONS,
                { "cpus", required_argument, NULL, OPT_CPUS },
                { "period-us", required_argument, NULL, OPT_PERIOD },
                { "cpuset", required_argument, NULL, OPT_CPUSET },
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        static const ApCli cli = { .name = "run", .usage_status = EXIT_USAGE, .usage = run_usage };
        const char *cpus_text = NULL;
        cpu_set_t *allowed;
        size_t allowed_size = 0;
        long online;
        int c, status, r = 0;

        *spec = (RunSpec){ .period_us = 100000 };
        optind = 0; /* full reset: the dispatcher may have used getopt already */
        while ((c = ap_cli_next(&cli, argc, argv, opts, &status)) != -1) {
                switch (c) {
                case -2:
                        return status == 0 ? 1 : -EINVAL;
                case OPT_CPUS:
                        if (ap_parse_milli(optarg, &spec->millicpus) < 0 || spec->millicpus == 0) {
                                (void)ap_cli_error(&cli, "--cpus: '%s' is not a CPU amount (expected e.g. 0.5 or "
                                                   "1.5, at most 3 decimals, above 0)", optarg);
                                return -EINVAL;
                        }
                        cpus_text = optarg;
                        break;
                case OPT_PERIOD:
                        if (ap_parse_u64(optarg, &spec->period_us) < 0 || spec->period_us < 1000 ||
                            spec->period_us > 1000000) {
                                (void)ap_cli_error(&cli, "--period-us: '%s' is not a period (expected 1000 .. "
                                                   "1000000 us)", optarg);
                                return -EINVAL;
                        }
                        break;
                case OPT_CPUSET:
                        spec->cpuset = optarg;
                        break;
                case OPT_JSON:
                        spec->json = true;
                        break;
                default:
                        abort(); /* every code of opts[] is handled */
                }
        }
        if (!cpus_text) {
                (void)ap_cli_error(&cli, "--cpus: missing (expected --cpus Q, e.g. --cpus 0.5)");
                return -EINVAL;
        }
        if (optind >= argc) {
                (void)ap_cli_error(&cli, "no command given (expected autoprocs run --cpus Q -- CMD [ARGS...])");
                return -EINVAL;
        }
        allowed = allowed_cpus(&allowed_size);
        if (spec->cpuset)
                r = check_cpuset(&cli, spec->cpuset, allowed, allowed_size);
        if (allowed)
                CPU_FREE(allowed);
        if (r < 0)
                return r;
        /* A quota above the machine's online CPUs can never bind: CMD would run unthrottled under
         * what looks like a limit.  Above the --cpuset or our affinity it is a real container
         * shape (a limit larger than the cpuset) and stays allowed. */
        online = sysconf(_SC_NPROCESSORS_ONLN);
        if (online > 0 && spec->millicpus > (uint64_t)online * 1000) {
                (void)ap_cli_error(&cli, "--cpus: %s is more than the %ld CPU%s of this machine (expected "
                                   "0.001 .. %ld)", cpus_text, online, AP_CLI_PLURAL(online), online);
                return -EINVAL;
        }
        spec->quota_us = spec->millicpus * spec->period_us / 1000;
        if (spec->quota_us < 1000) {
                (void)ap_cli_error(&cli, "--cpus: %s with a %llu us period gives a quota below the kernel's "
                                   "1000 us (expected at least %.3f CPUs, or a longer --period-us)", cpus_text,
                                   (unsigned long long)spec->period_us, 1000.0 / (double)spec->period_us);
                return -EINVAL;
        }
        return 0;
}

static bool errno_not_permitted(int e)
{
        return e == EACCES || e == EPERM || e == EROFS;
}

/* v1 with libcgroup.  @retval 0  @retval -1 (one line on stderr said why) */
static int create_v1(const char *name, const RunSpec *spec, RunCgroup *cg)
{
        int r;

        r = describe_cgroup(name, spec, &cg->v1);
        if (r != 0) {
                fprintf(stderr, "autoprocs run: describing cgroup %s: %s\n", name, cg_strerror(r));
                return -1;
        }
        r = cgroup_create_cgroup(cg->v1, 0);
        if (r == 0)
                return 0;
        if (cg_not_permitted(r))
                fprintf(stderr, "autoprocs run: cannot create cgroup %s: %s (needs root "
                        "or a writable cgroup hierarchy)\n", name, cg_strerror(r));
        else if (spec->cpuset && r == ECGOTHER &&
                 (cgroup_get_last_errno() == ERANGE || cgroup_get_last_errno() == EINVAL))
                fprintf(stderr, "autoprocs run: --cpuset: the kernel refused '%s' for %s: %s "
                        "(expected CPUs of the parent cpuset)\n", spec->cpuset, name, cg_strerror(r));
        else
                fprintf(stderr, "autoprocs run: cannot create cgroup %s (cpus %.3f, "
                        "period %llu us): %s\n", name, (double)spec->millicpus / 1000.0,
                        (unsigned long long)spec->period_us, cg_strerror(r));
        /* It may exist half made (one hierarchy of several): remove what is there. */
        (void)cgroup_delete_cgroup_ext(cg->v1, CGFLAG_DELETE_IGNORE_MIGRATION);
        cgroup_free(&cg->v1);
        return -1;
}

/* v2: one directory, made by run-cgroup2.c.  @retval 0  @retval -1 (one line said why) */
static int create_v2(const char *name, const RunSpec *spec, RunCgroup *cg)
{
        _cleanup_free_ char *mnt = NULL;
        char why[512];
        int r;

        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt || !spec->own_path) {
                fprintf(stderr, "autoprocs run: cannot create cgroup %s: the cgroup2 mount or our own "
                        "cgroup is unknown\n", name);
                return -1;
        }
        r = ap_run_cg2_create(mnt, spec->own_path, name, spec->quota_us, spec->period_us, spec->cpuset,
                              &cg->v2, why, sizeof(why));
        if (r == 0)
                return 0;
        if (errno_not_permitted(-r))
                fprintf(stderr, "autoprocs run: cannot create cgroup %s: %s: %s (needs root or a writable "
                        "cgroup hierarchy)\n", name, why, strerror(-r));
        else if (r == -EBUSY)
                fprintf(stderr, "autoprocs run: cannot create cgroup %s: %s\n", name, why);
        else if (spec->cpuset && (r == -ERANGE || r == -EINVAL) && strstr(why, "cpuset.cpus"))
                fprintf(stderr, "autoprocs run: --cpuset: the kernel refused '%s' for %s: %s "
                        "(expected CPUs of the parent cpuset)\n", spec->cpuset, name, strerror(-r));
        else
                fprintf(stderr, "autoprocs run: cannot create cgroup %s: %s: %s\n", name, why, strerror(-r));
        return -1;
}

/* Move @pid into the new cgroup.  @retval 0  @retval -1 (*ret_why: the reason, static or libcgroup's) */
static int attach(RunCgroup *cg, pid_t pid, const char **ret_why)
{
        int r;

        if (cg->v1) {
                r = cgroup_attach_task_pid(cg->v1, pid);
                *ret_why = r ? cg_strerror(r) : NULL;
        } else {
                r = ap_run_cg2_attach(&cg->v2, pid);
                *ret_why = r ? strerror(-r) : NULL;
        }
        return r ? -1 : 0;
}

/* Remove the cgroup; tasks CMD left behind are moved out so that the directory always goes. */
static void remove_cgroup(RunCgroup *cg, const char *name)
{
        int r;

        if (cg->v1) {
                r = cgroup_delete_cgroup_ext(cg->v1, CGFLAG_DELETE_IGNORE_MIGRATION);
                if (r != 0)
                        fprintf(stderr, "autoprocs run: removing cgroup %s: %s\n", name, cg_strerror(r));
                cgroup_free(&cg->v1);
                return;
        }
        r = ap_run_cg2_remove(&cg->v2);
        if (r < 0)
                fprintf(stderr, "autoprocs run: removing cgroup %s: %s\n", name, strerror(-r));
}

/*
 * Fork; the child waits until it is in the cgroup, then execs.  Exec errors come back on a pipe.
 * @retval 0  @retval 1 the child could not be moved (*ret_why)  @retval -errno pipe/fork failed
 */
static int spawn_in_cgroup(RunCgroup *cg, char **cmd, pid_t *ret_pid, int *ret_exec_errno, const char **ret_why)
{
        int go[2], err[2], r, e = 0;
        pid_t pid;
        char c = 0;
        ssize_t n;

        if (pipe2(go, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                close(go[0]);
                close(go[1]);
                return r;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(go[0]);
                close(go[1]);
                close(err[0]);
                close(err[1]);
                return r;
        }
        if (pid == 0) {
                close(go[1]);
                close(err[0]);
                /* Parent gone or attach failed (pipe closed without a byte): do not run unlimited. */
                if (read(go[0], &c, 1) != 1)
                        _exit(EXIT_CANNOT_RUN);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGHUP, SIG_DFL);
                signal(SIGQUIT, SIG_DFL);
                execvp(cmd[0], cmd);
                e = errno;
                (void)!write(err[1], &e, sizeof(e));
                _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
        }
        close(go[0]);
        close(err[1]);
        child_pid = pid;
        if (attach(cg, pid, ret_why) < 0) {
                close(go[1]); /* the child exits without running CMD */
                close(err[0]);
                (void)waitpid(pid, NULL, 0);
                child_pid = 0;
                return 1;
        }
        (void)!write(go[1], &c, 1);
        close(go[1]);
        do
                n = read(err[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        close(err[0]);
        *ret_exec_errno = n == (ssize_t)sizeof(e) ? e : 0;
        *ret_pid = pid;
        return 0;
}

int ap_cli_run(int argc, char **argv)
{
        struct sigaction sa = { .sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
        static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        RunCgroup cg = { 0 };
        const char *why = NULL;
        struct rusage ru = {};
        char name[64];
        RunSpec spec;
        pid_t pid = 0;
        int r, status = 0, exit_status, exec_errno = 0;

        r = parse_args(argc, argv, &spec);
        if (r > 0)
                return 0;
        if (r < 0)
                return EXIT_USAGE;

        cgroup_set_logger(quiet_logger, CGROUP_LOG_ERROR, NULL);
        r = cgroup_init();
        if (r != 0) {
                fprintf(stderr, "autoprocs run: libcgroup: %s (is a cgroup hierarchy mounted?)\n",
                        cg_strerror(r));
                return EXIT_USAGE;
        }
        spec.version = cpu_cgroup_version(&spec.own_path);
        if (spec.version == 0) {
                fprintf(stderr, "autoprocs run: no cgroup hierarchy with the cpu controller found\n");
                free(spec.own_path);
                return EXIT_USAGE;
        }
        (void)snprintf(name, sizeof(name), "autoprocs-run-%ld", (long)getpid());

        /* Forward signals before the cgroup exists, so that none is lost between the two. */
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
                (void)sigaction(fwd[i], &sa, NULL);

        r = spec.version == 2 ? create_v2(name, &spec, &cg) : create_v1(name, &spec, &cg);
        free(spec.own_path);
        if (r < 0)
                return EXIT_USAGE;

        r = spawn_in_cgroup(&cg, argv + optind, &pid, &exec_errno, &why);
        if (r != 0) {
                if (r > 0)
                        fprintf(stderr, "autoprocs run: cannot move the child into %s: %s\n", name, why);
                else
                        fprintf(stderr, "autoprocs run: fork: %s\n", strerror(-r));
                exit_status = EXIT_USAGE;
                goto out;
        }
        if (exec_errno)
                fprintf(stderr, "autoprocs run: %s: %s\n", argv[optind], strerror(exec_errno));
        else if (pending_signal)
                (void)kill(pid, pending_signal); /* sent to us while the cgroup was being made */

        while (wait4(pid, &status, 0, &ru) < 0) {
                if (errno != EINTR) {
                        fprintf(stderr, "autoprocs run: wait: %s\n", strerror(errno));
                        status = EXIT_CANNOT_RUN << 8;
                        break;
                }
        }
        child_pid = 0;
        exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
                      : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : EXIT_CANNOT_RUN;
        if (!exec_errno)
                report(&spec, name, &ru, exit_status);
out:
        remove_cgroup(&cg, name);
        return exit_status;
}
