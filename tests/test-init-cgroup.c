/* SPDX-License-Identifier: MIT */
/*
 * The example program in a real cgroup: autoprocs-example (path in $AP_EXAMPLE) runs in an
 * autoprocs-test-init-<pid> cgroup made with libcgroup; the test changes the quota from outside
 * and reads from the example's output that the runtime's processor count follows.  It prints the
 * reaction time (quota write -> new count in force); the benchmark in tests/bench/reaction/
 * measures it properly.  Policy ceil, N the CPUs of our affinity (the example inherits it):
 * 0.5 CPU -> 1, 1.5 -> min(2, N), none -> N.  A step that leaves the count unchanged (N = 1) is
 * not waited for: the example prints the count only when it changes.
 * Needs root and a writable cpu hierarchy; skipped (77) with the reason otherwise.  The cgroup
 * is removed in every case (unchecked teardown, in the runner process).
 */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/ap-test-cgroup.h"
#include "tests/ap-test.h"

static long runner_pid;
static unsigned ncpus;  /* CPUs in our affinity mask */

static void cg_teardown(void)
{
        ApTestCgroup t;

        ap_cg_name(&t, "init", runner_pid);
        ap_cg_remove(&t);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct Example {
        pid_t pid;
        FILE *out;
} Example;

static void example_start(Example *e, const ApTestCgroup *t, const char *interval_ms)
{
        const char *path = getenv("AP_EXAMPLE");
        int out[2], go[2];
        char c = 1;

        ck_assert_msg(path && *path, "AP_EXAMPLE (path of autoprocs-example) is not set");
        ck_assert(pipe(out) == 0 && pipe(go) == 0);
        e->pid = fork();
        ck_assert(e->pid >= 0);
        if (e->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(out[1], 1);
                close(out[0]);
                close(go[1]);
                if (read(go[0], &c, 1) != 1)
                        _exit(97);
                execl(path, path, "--policy", "ceil", "--interval-ms", interval_ms, "--workers",
                      "2", "--seconds", "30", (char *)NULL);
                _exit(99);
        }
        close(out[1]);
        close(go[0]);
        ck_assert_msg(ap_cg_attach(t, e->pid) == 0, "cannot move the example into %s", t->name);
        ck_assert(write(go[1], &c, 1) == 1);
        close(go[1]);
        e->out = fdopen(out[0], "r");
        ck_assert_ptr_nonnull(e->out);
}

/* Read lines until "procs N t=T"; returns T.  Fails after @timeout_s. */
static double expect_procs(Example *e, unsigned want, double timeout_s)
{
        double deadline = now_s() + timeout_s;
        char line[256];

        while (fgets(line, sizeof(line), e->out)) {
                unsigned n;
                double t;

                ck_assert_msg(now_s() < deadline, "no 'procs %u' within %.1f s", want, timeout_s);
                if (sscanf(line, "procs %u t=%lf", &n, &t) == 2 && n == want)
                        return t;
        }
        ck_abort_msg("example ended before printing 'procs %u'", want);
        return 0;
}

/* Set the quota (-1: none) and, when that changes the count in force from @from to @to, wait
 * for it and print the reaction time. */
static void step(Example *e, const ApTestCgroup *t, const char *interval_ms, long quota,
                 unsigned from, unsigned to)
{
        double t_write = now_s(), t_force;

        ck_assert_int_eq(ap_cg_set_quota(t, quota, 100000), 0);
        if (to == from)
                return;
        t_force = expect_procs(e, to, 5);
        fprintf(stderr, "interval %s ms: quota %ld us/100 ms, %u -> %u processors in force after "
                "%.1f ms\n", interval_ms, quota, from, to, (t_force - t_write) * 1e3);
}

static void follow(const char *interval_ms)
{
        unsigned mid = ncpus < 2 ? ncpus : 2; /* ceil(1.5) within the affinity */
        ApTestCgroup t;
        Example e;
        char line[256];
        int status;
        bool done = false;

        ap_cg_name(&t, "init", runner_pid);
        ck_assert_msg(ap_cg_create(&t, 50000, 100000) == 0, "cannot create cgroup %s", t.name);
        example_start(&e, &t, interval_ms);
        expect_procs(&e, 1, 5); /* 0.5 CPU */

        step(&e, &t, interval_ms, 150000, 1, mid);
        /* Wait out the settle window so the next decrease is not a held reversal. */
        usleep(50 * 1000 + 5 * 1000 * (useconds_t)atoi(interval_ms));
        step(&e, &t, interval_ms, 50000, mid, 1);
        usleep(50 * 1000 + 5 * 1000 * (useconds_t)atoi(interval_ms));
        step(&e, &t, interval_ms, -1, 1, ncpus); /* no limit: affinity */

        kill(e.pid, SIGTERM);
        while (fgets(line, sizeof(line), e.out)) {
                unsigned long long items;
                unsigned n;

                /* nothing after the last step changes the count */
                if (sscanf(line, "procs %u", &n) == 1)
                        ck_assert_msg(n == ncpus, "procs %u after the limit went (%u CPUs)", n,
                                      ncpus);
                if (sscanf(line, "done items=%llu checksum=", &items) == 1) {
                        ck_assert_uint_gt(items, 0);
                        done = true;
                }
        }
        fclose(e.out);
        ck_assert(waitpid(e.pid, &status, 0) == e.pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "example status %d", status);
        ck_assert(done);
        snprintf(line, sizeof(line), "%s", t.name);
        ap_cg_remove(&t);
        ck_assert_msg(!ap_cg_exists(line), "cgroup %s left behind", line);
}

START_TEST(test_follows_quota_10ms)
{
        follow("10");
}
END_TEST

START_TEST(test_follows_quota_100ms)
{
        follow("100");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("init-cgroup");
        TCase *tc = tcase_create("real");

        tcase_set_timeout(tc, 30);
        tcase_add_unchecked_fixture(tc, NULL, cg_teardown);
        tcase_add_checked_fixture(tc, NULL, cg_teardown);
        tcase_add_test(tc, test_follows_quota_10ms);
        tcase_add_test(tc, test_follows_quota_100ms);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        const char *why;
        cpu_set_t set;

        runner_pid = (long)getpid();
        if (sched_getaffinity(0, sizeof(set), &set) < 0) {
                perror("sched_getaffinity");
                return EXIT_FAILURE;
        }
        ncpus = (unsigned)CPU_COUNT(&set);
        if (ncpus < 2)
                fprintf(stderr, "1 CPU: no quota changes the count; only the start and stop are "
                        "checked\n");
        why = ap_cg_usable();
        if (why) {
                fprintf(stderr, "SKIP: real cgroups unavailable: %s\n", why);
                return 77;
        }
        return ap_test_run(suite());
}
