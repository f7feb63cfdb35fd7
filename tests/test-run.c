/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs run` end to end on the real machine: a spinning child under 0.2 CPU is throttled and
 * the JSON line says so; the cgroup is gone afterwards; exit status, a missing command and a
 * forwarded SIGTERM pass through; without privileges the error is one clear line.
 * Needs root and a writable cpu hierarchy; skipped (exit 77) with the reason otherwise.
 * The spinning child is this test binary itself ("--spin MS": busy for MS ms of wall time).
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/ap-test-cgroup.h"
#include "tests/ap-test.h"

typedef struct Run {
        int status;
        pid_t pid;
        char out[4096];
        char err[8192];
} Run;

static char self_exe[4096];

/* Run the CLI; with @kill_after_ms > 0 send it SIGTERM after that long.  @uid != 0: as that user. */
static void run_cli(Run *r, const char *const *args, unsigned kill_after_ms, uid_t uid)
{
        int out[2], err[2];
        char *argv[64];
        size_t n = 0;
        pid_t pid;

        argv[n++] = (char *)ap_test_cli();
        for (; args[n - 1]; n++)
                argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        ck_assert(pipe(out) == 0 && pipe(err) == 0);
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                dup2(out[1], 1);
                dup2(err[1], 2);
                close(out[0]);
                close(err[0]);
                /* Own process group: a signal for it is "sent to us alone", not a tty's. */
                setpgid(0, 0);
                if (uid != 0 && (setgid(uid) < 0 || setuid(uid) < 0))
                        _exit(98);
                execv(argv[0], argv);
                _exit(99);
        }
        close(out[1]);
        close(err[1]);
        if (kill_after_ms) {
                struct timespec ts = { .tv_sec = kill_after_ms / 1000,
                                       .tv_nsec = (long)(kill_after_ms % 1000) * 1000000L };

                nanosleep(&ts, NULL);
                kill(pid, SIGTERM);
        }
        ap_test_read_all(out[0], r->out, sizeof(r->out));
        ap_test_read_all(err[0], r->err, sizeof(r->err));
        close(out[0]);
        close(err[0]);
        ck_assert(waitpid(pid, &r->status, 0) == pid);
        r->pid = pid;
}

/* A number field of the JSON line; fails the test when absent. */
static double json_num(const char *json, const char *key)
{
        char pat[64];
        const char *p;

        snprintf(pat, sizeof(pat), "\"%s\":", key);
        p = strstr(json, pat);
        ck_assert_msg(p != NULL, "no %s in '%s'", key, json);
        return strtod(p + strlen(pat), NULL);
}

static bool run_cgroup_exists(pid_t pid)
{
        char name[64];

        snprintf(name, sizeof(name), "autoprocs-run-%ld", (long)pid);
        return ap_cg_exists(name);
}

static void skip_unless_usable(void)
{
        const char *why = ap_cg_usable();

        if (why) {
                fprintf(stderr, "SKIP: real cgroups unavailable: %s\n", why);
                exit(77);
        }
}

START_TEST(test_throttled_spinner_json)
{
        const char *args[] = { "run", "--cpus", "0.2", "--json", "--", self_exe, "--spin", "1000", NULL };
        const char *line;
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d: %s", r.status,
                      r.err);
        line = strrchr(r.err, '{');
        ck_assert_msg(line != NULL, "no JSON on stderr: '%s'", r.err);
        ck_assert_msg(strchr(line, '\n') == line + strlen(line) - 1, "not one line: '%s'", line);
        fprintf(stderr, "run --cpus 0.2 spinner 1 s: %s", line);
        ck_assert_double_eq_tol(json_num(line, "cpus"), 0.2, 1e-9);
        ck_assert_double_eq(json_num(line, "exit_status"), 0);
        ck_assert_double_gt(json_num(line, "nr_periods"), 5);
        ck_assert_double_gt(json_num(line, "nr_throttled"), 0);
        ck_assert_double_gt(json_num(line, "throttled_seconds"), 0);
        /* 1 s of wall time under 0.2 CPU: about 0.2 s of CPU, never the whole second. */
        ck_assert_double_gt(json_num(line, "cpu_seconds"), 0.05);
        ck_assert_double_lt(json_num(line, "cpu_seconds"), 0.5);
        ck_assert_msg(!run_cgroup_exists(r.pid), "cgroup autoprocs-run-%d left behind", (int)r.pid);
}
END_TEST

START_TEST(test_human_summary)
{
        const char *args[] = { "run", "--cpus", "1.5", "--period-us", "50000", "--", "true", NULL };
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        ck_assert_msg(strstr(r.err, "1.500 CPUs") && strstr(r.err, "quota 75000 us per 50000 us") &&
                              strstr(r.err, "cpu used") && strstr(r.err, "throttled periods") &&
                              strstr(r.err, "throttled time"),
                      "summary: '%s'", r.err);
        ck_assert(!run_cgroup_exists(r.pid));
}
END_TEST

START_TEST(test_exit_status_passes)
{
        const char *args[] = { "run", "--cpus", "0.5", "--json", "--", "sh", "-c", "exit 7", NULL };
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7, "status %d", r.status);
        ck_assert_double_eq(json_num(r.err, "exit_status"), 7);
        ck_assert(!run_cgroup_exists(r.pid));
}
END_TEST

START_TEST(test_child_in_cgroup)
{
        /* The child's own /proc/self/cgroup names the run cgroup. */
        const char *args[] = { "run", "--cpus", "0.5", "--", "cat", "/proc/self/cgroup", NULL };
        char want[64];
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        snprintf(want, sizeof(want), "/autoprocs-run-%ld\n", (long)r.pid);
        ck_assert_msg(strstr(r.out, want) != NULL, "'%s' not in '%s'", want, r.out);
}
END_TEST

START_TEST(test_not_found)
{
        const char *args[] = { "run", "--cpus", "0.5", "--", "autoprocs-no-such-command-xyz", NULL };
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_int_eq(WEXITSTATUS(r.status), 127);
        ck_assert_ptr_nonnull(strstr(r.err, "autoprocs-no-such-command-xyz"));
        ck_assert(!run_cgroup_exists(r.pid));
}
END_TEST

START_TEST(test_sigterm_forwarded)
{
        const char *args[] = { "run", "--cpus", "0.5", "--json", "--", "sleep", "30", NULL };
        Run r;

        run_cli(&r, args, 300, 0);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 128 + SIGTERM,
                      "status %d: %s", r.status, r.err);
        ck_assert_double_eq(json_num(r.err, "exit_status"), 128 + SIGTERM);
        ck_assert(!run_cgroup_exists(r.pid));
}
END_TEST

START_TEST(test_cpuset)
{
        const char *args[] = { "run", "--cpus", "1", "--cpuset", "0", "--", "grep", "Cpus_allowed_list",
                         "/proc/self/status", NULL };
        Run r;

        run_cli(&r, args, 0, 0);
        ck_assert_msg(WEXITSTATUS(r.status) == 0, "status %d: %s", r.status, r.err);
        ck_assert_msg(strstr(r.out, "Cpus_allowed_list:\t0\n") != NULL, "'%s'", r.out);
}
END_TEST

START_TEST(test_not_permitted)
{
        const char *args[] = { "run", "--cpus", "0.5", "--", "true", NULL };
        Run r;

        run_cli(&r, args, 0, 65534);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 125, "status %d: %s",
                      r.status, r.err);
        ck_assert_msg(strstr(r.err, "needs root or a writable cgroup hierarchy") != NULL, "'%s'",
                      r.err);
        ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
}
END_TEST

START_TEST(test_bad_usage)
{
        const char *no_cpus[] = { "run", "--", "true", NULL };
        const char *zero[] = { "run", "--cpus", "0", "--", "true", NULL };
        const char *tiny[] = { "run", "--cpus", "0.001", "--", "true", NULL };
        const char *period[] = { "run", "--cpus", "1", "--period-us", "10", "--", "true", NULL };
        const char *cpuset[] = { "run", "--cpus", "1", "--cpuset", "a-b", "--", "true", NULL };
        const char *no_cmd[] = { "run", "--cpus", "1", NULL };
        const char **cases[] = { no_cpus, zero, tiny, period, cpuset, no_cmd };
        Run r;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                run_cli(&r, cases[i], 0, 0);
                ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 125, "case %zu: %d",
                              i, r.status);
                ck_assert_msg(strstr(r.err, "autoprocs run: ") != NULL, "case %zu: '%s'", i, r.err);
        }
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("run");
        TCase *tc = tcase_create("run");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_bad_usage);
        tcase_add_test(tc, test_throttled_spinner_json);
        tcase_add_test(tc, test_human_summary);
        tcase_add_test(tc, test_exit_status_passes);
        tcase_add_test(tc, test_child_in_cgroup);
        tcase_add_test(tc, test_not_found);
        tcase_add_test(tc, test_sigterm_forwarded);
        tcase_add_test(tc, test_cpuset);
        tcase_add_test(tc, test_not_permitted);
        suite_add_tcase(s, tc);
        return s;
}

static int spin(const char *ms_arg)
{
        struct timespec start, now;
        unsigned long ms = strtoul(ms_arg, NULL, 10);
        volatile uint64_t x = 1;

        clock_gettime(CLOCK_MONOTONIC, &start);
        do {
                for (int i = 0; i < 100000; i++)
                        x = x * 6364136223846793005ULL + 1;
                clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((unsigned long)((now.tv_sec - start.tv_sec) * 1000 +
                                 (now.tv_nsec - start.tv_nsec) / 1000000) < ms);
        return 0;
}

int main(int argc, char **argv)
{
        ssize_t n;

        if (argc == 3 && strcmp(argv[1], "--spin") == 0)
                return spin(argv[2]);
        n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (n <= 0)
                return 1;
        self_exe[n] = 0;
        skip_unless_usable();
        return ap_test_run(suite());
}
