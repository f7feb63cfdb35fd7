/* SPDX-License-Identifier: MIT */
/*
 * The one-call answer (autoprocs_available_procs) and the watcher without the runtime
 * (autoprocs_watch_start/stop): on a fixture tree whose cpu.max the test rewrites, and on a real
 * autoprocs-test-watcher-<pid> v1 (or v2) cgroup made with libcgroup whose quota the test changes
 * live.  The real-cgroup case is skipped with the reason when cgroups cannot be made here.
 */
#include <pthread.h>
#include <time.h>

#include "ap-test.h"
#include "ap-test-cgroup.h"
#include "autoprocs.h"
#include "lib/watch.h"

#define LEAF "sys/fs/cgroup/app.slice/app.service/cpu.max"

static long runner_pid;

/* Events seen by the callback, in order. */
typedef struct Seen {
        pthread_mutex_t lock;
        autoprocs_watch_event ev[64];
        size_t n;
        pthread_t thread;
        bool other_thread;       /* every call ran on one thread that is not the test's */
        autoprocs_watch *stop_me; /* stop the watch from the callback at the second event */
        size_t from;             /* wait_event() looks at events from here on */
} Seen;

static void on_event(const autoprocs_watch_event *ev, void *ud)
{
        Seen *s = ud;
        autoprocs_watch *stop = NULL;

        pthread_mutex_lock(&s->lock);
        if (s->n == 0) {
                s->thread = pthread_self();
                s->other_thread = true;
        } else if (!pthread_equal(s->thread, pthread_self()))
                s->other_thread = false;
        if (s->n < 64)
                s->ev[s->n++] = *ev;
        if (s->n == 2)
                stop = s->stop_me;
        pthread_mutex_unlock(&s->lock);
        if (stop)
                autoprocs_watch_stop(stop);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (poll, generous deadline) for an event after the last one found with @procs and quota
 * @quota (0 = no limit). */
static autoprocs_watch_event wait_event(Seen *s, unsigned procs, uint64_t quota, double timeout_s)
{
        double deadline = now_s() + timeout_s;

        for (;;) {
                pthread_mutex_lock(&s->lock);
                for (size_t i = s->from; i < s->n; i++) {
                        autoprocs_watch_event e = s->ev[i];

                        if (e.procs == procs && (quota ? e.has_limit && e.quota_ns == quota * 1000u : !e.has_limit)) {
                                s->from = i + 1;
                                pthread_mutex_unlock(&s->lock);
                                return e;
                        }
                }
                pthread_mutex_unlock(&s->lock);
                ck_assert_msg(now_s() < deadline, "no event procs=%u quota=%llu within %.0f s", procs,
                              (unsigned long long)quota, timeout_s);
                usleep(2000);
        }
}

static void seen_init(Seen *s)
{
        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
}

START_TEST(test_available_procs_env)
{
        autoprocs_facts *f = NULL;
        unsigned want;

        unsetenv("AUTOPROCS_PROCS");
        unsetenv("AUTOPROCS_POLICY");
        ck_assert_int_eq(autoprocs_detect(NULL, &f), 0);
        want = autoprocs_facts_procs(f);
        autoprocs_facts_free(f);
        ck_assert_uint_eq(autoprocs_available_procs(), want);

        setenv("AUTOPROCS_PROCS", "3", 1);
        ck_assert_uint_eq(autoprocs_available_procs(), 3);
        /* A bad value is ignored: the detected count. */
        setenv("AUTOPROCS_PROCS", "three", 1);
        ck_assert_uint_eq(autoprocs_available_procs(), want);
        unsetenv("AUTOPROCS_PROCS");
        ck_assert_uint_ge(autoprocs_available_procs(), 1);
}
END_TEST

START_TEST(test_watch_bad_args)
{
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        Seen s;

        seen_init(&s);
        ck_assert_int_eq(autoprocs_watch_start(NULL, NULL, &s, &w), -EINVAL);
        ck_assert_int_eq(autoprocs_watch_start(NULL, on_event, &s, NULL), -EINVAL);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(0) * 1000000u), 0);
        ck_assert_int_eq(autoprocs_watch_start(c, on_event, &s, &w), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_root(c, "/nonexistent-autoprocs-root"), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(100) * 1000000u), 0);
        ck_assert_int_lt(autoprocs_watch_start(c, on_event, &s, &w), 0);
        ck_assert_ptr_null(w);
        autoprocs_config_free(c);
        autoprocs_watch_stop(NULL);
}
END_TEST

START_TEST(test_watch_fixture_changes)
{
        char *tree = ap_test_fixture_copy("v2-quota-1.5");
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        autoprocs_watch_event e;
        size_t n;
        Seen s;

        seen_init(&s);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(10) * 1000000u), 0);
        ck_assert_int_eq(autoprocs_watch_start(c, on_event, &s, &w), 0);
        autoprocs_config_free(c);

        e = wait_event(&s, 2, 150000, 10);       /* the first call: 1.5 CPUs, ceil -> 2 */
        ck_assert_uint_eq(e.old_procs, 0);
        ck_assert_uint_eq(e.period_ns, 100000000u);
        ck_assert_uint_eq(e.size, sizeof(e));
        ck_assert_uint_eq(e.affinity_cpus, 4);
        ap_test_write(tree, LEAF, "50000 100000\n");
        e = wait_event(&s, 1, 50000, 10);
        ck_assert_uint_eq(e.old_procs, 2);
        ap_test_write(tree, LEAF, "max 100000\n");
        e = wait_event(&s, 4, 0, 10);            /* unlimited: the affinity */
        ck_assert_uint_eq(e.old_procs, 1);
        /* Garbage: reported once as unknown (procs 0), then the repaired value. */
        ap_test_write(tree, LEAF, "banana\n");
        e = wait_event(&s, 0, 0, 10);
        ck_assert_uint_eq(e.old_procs, 4);
        ap_test_write(tree, LEAF, "150000 100000\n");
        e = wait_event(&s, 2, 150000, 10);
        ck_assert_uint_eq(e.old_procs, 0);

        /* Nothing changes: no more calls. */
        pthread_mutex_lock(&s.lock);
        n = s.n;
        pthread_mutex_unlock(&s.lock);
        usleep(100 * 1000);
        pthread_mutex_lock(&s.lock);
        ck_assert_uint_eq(s.n, n);
        ck_assert(s.other_thread && !pthread_equal(s.thread, pthread_self()));
        pthread_mutex_unlock(&s.lock);
        autoprocs_watch_stop(w);
        ap_test_rmtree(tree);
}
END_TEST

/* Whether an event with @procs was delivered. */
static bool seen_procs(Seen *s, unsigned procs)
{
        bool found = false;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n; i++)
                found = found || s->ev[i].procs == procs;
        pthread_mutex_unlock(&s->lock);
        return found;
}

START_TEST(test_watch_half_written_pair_not_delivered)
{
        /* 150000/100000 (ceil 2) -> 250000/50000 (capped by the 4 CPUs: 4), the quota written
         * first; the watcher's first read sees 250000/100000 (3), which must never be delivered. */
        char *tree = ap_test_fixture_copy("v1-cpu-cpuacct");
        ApTestHalfWrite h = { .lock = PTHREAD_MUTEX_INITIALIZER, .tree = tree, .period = "50000\n" };
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        autoprocs_watch_event e;
        double deadline;
        unsigned calls = 0;
        Seen s;

        seen_init(&s);
        ap_watch_set_confirm_hook(ap_test_finish_pair, &h);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(10) * 1000000u), 0);
        ck_assert_int_eq(autoprocs_watch_start(c, on_event, &s, &w), 0);
        autoprocs_config_free(c);
        (void)wait_event(&s, 2, 150000, 10);

        ap_test_write(tree, AP_TEST_V1_LEAF "/cpu.cfs_quota_us", "250000\n");
        /* Until the watcher has confirmed (or, without confirmation, delivered the half pair). */
        deadline = now_s() + 10;
        while (now_s() < deadline && !seen_procs(&s, 3)) {
                calls = ap_test_half_write_calls(&h);
                if (calls > 0)
                        break;
                usleep(2000);
        }
        ck_assert_msg(!seen_procs(&s, 3), "the half-written pair 250000/100000 was delivered");
        ck_assert_msg(calls > 0, "no confirming read of the changed pair within 10 s");
        e = wait_event(&s, 4, 250000, 10);
        ck_assert_uint_eq(e.period_ns, 50000000u);
        ck_assert_uint_eq(e.old_procs, 2);
        autoprocs_watch_stop(w);
        ap_watch_set_confirm_hook(NULL, NULL);
        ck_assert_msg(!seen_procs(&s, 3), "the half-written pair 250000/100000 was delivered");
        ap_test_rmtree(tree);
}
END_TEST

START_TEST(test_watch_stop_from_callback)
{
        char *tree = ap_test_fixture_copy("v2-quota-1.5");
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        Seen s;

        seen_init(&s);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(10) * 1000000u), 0);
        pthread_mutex_lock(&s.lock);
        ck_assert_int_eq(autoprocs_watch_start(c, on_event, &s, &w), 0);
        s.stop_me = w;
        pthread_mutex_unlock(&s.lock);
        autoprocs_config_free(c);
        (void)wait_event(&s, 2, 150000, 10);
        ap_test_write(tree, LEAF, "350000 100000\n");   /* go125: 4 CPUs of affinity -> 4 */
        (void)wait_event(&s, 4, 350000, 10);            /* the callback stops the watch here */
        ap_test_write(tree, LEAF, "50000 100000\n");
        usleep(200 * 1000);
        pthread_mutex_lock(&s.lock);
        ck_assert_uint_eq(s.n, 2);                      /* stopped: no third call */
        pthread_mutex_unlock(&s.lock);
        ap_test_rmtree(tree);
}
END_TEST

static void cg_teardown(void)
{
        ApTestCgroup t;

        ap_cg_name(&t, "watcher", runner_pid);
        ap_cg_remove(&t);
}

START_TEST(test_watch_real_cgroup)
{
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        autoprocs_watch_event e;
        ApTestCgroup t;
        char name[96];
        double t0;
        Seen s;

        seen_init(&s);
        ap_cg_name(&t, "watcher", runner_pid);
        ck_assert_msg(ap_cg_create(&t, 150000, 100000) == 0, "cannot create cgroup %s", t.name);
        ck_assert_ptr_nonnull(t.dir);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_cgroup_dir(c, t.dir), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL), 0);
        ck_assert_int_eq(autoprocs_config_set_min(c, 1), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(20) * 1000000u), 0);
        ck_assert_int_eq(autoprocs_watch_start(c, on_event, &s, &w), 0);
        autoprocs_config_free(c);

        e = wait_event(&s, 2, 150000, 10);
        ck_assert(e.affinity_cpus >= 2 || e.procs == e.affinity_cpus);
        t0 = now_s();
        ck_assert_int_eq(ap_cg_set_quota(&t, 50000, 100000), 0);
        e = wait_event(&s, 1, 50000, 10);
        fprintf(stderr, "real v%d cgroup: quota 1.5 -> 0.5 CPUs seen by the callback after %.1f ms\n", t.version,
                (now_s() - t0) * 1e3);
        ck_assert_int_eq(ap_cg_set_quota(&t, -1, 100000), 0);
        (void)wait_event(&s, e.affinity_cpus, 0, 10);
        autoprocs_watch_stop(w);
        snprintf(name, sizeof(name), "%s", t.name);
        ap_cg_remove(&t);
        ck_assert_msg(!ap_cg_exists(name), "cgroup %s left behind", name);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("watcher");
        TCase *tc = tcase_create("fixture");
        const char *why = ap_cg_usable();

        runner_pid = (long)getpid();
        tcase_add_test(tc, test_available_procs_env);
        tcase_add_test(tc, test_watch_bad_args);
        tcase_add_test(tc, test_watch_fixture_changes);
        tcase_add_test(tc, test_watch_stop_from_callback);
        tcase_add_test(tc, test_watch_half_written_pair_not_delivered);
        suite_add_tcase(s, tc);
        if (why) {
                fprintf(stderr, "SKIP: the real-cgroup watcher case: %s\n", why);
        } else {
                TCase *cg = tcase_create("real-cgroup");

                tcase_add_unchecked_fixture(cg, NULL, cg_teardown);
                tcase_add_test(cg, test_watch_real_cgroup);
                suite_add_tcase(s, cg);
        }
        return ap_test_run(s);
}
