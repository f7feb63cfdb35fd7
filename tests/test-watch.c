/* SPDX-License-Identifier: MIT */
/*
 * ApWatch (lib/watch.c) on fixture trees the test rewrites between ticks: the recommendation
 * follows every change of the limit, a move to another cgroup, a vanished file and a mount
 * change, and garbage never turns into a size.  Policy ceil, 4 CPUs of affinity, so that every
 * limit has its own answer: 0.5 -> 1, 1.5 -> 2, 2.5 -> 3, unlimited -> 4.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "lib/util/macro.h"
#include "lib/watch.h"
#include "tests/ap-test.h"

#define LEAF "sys/fs/cgroup/app.slice/app.service/cpu.max"
#define PARENT "sys/fs/cgroup/app.slice/cpu.max"

static char *tree;

static void setup(void)
{
        tree = ap_test_fixture_copy("v2-quota-1.5");
}

static void teardown(void)
{
        ap_test_rmtree(tree);
        tree = NULL;
}

static ApWatch *watch_new(autoprocs_policy policy)
{
        autoprocs_config c;
        ApWatch *w = NULL;

        ap_config_init_defaults(&c);
        c.policy = policy;
        c.root = tree;
        ck_assert_int_eq(ap_watch_new(&c, &w), 0);
        ck_assert_ptr_nonnull(w);
        return w;
}

static ApWatchResult tick(ApWatch *w)
{
        ApWatchResult r;

        ck_assert_int_eq(ap_watch_tick(w, 0, &r), 0);
        return r;
}

START_TEST(test_limit_sequence)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        ApWatchResult r;

        ck_assert_uint_eq(ap_watch_last(w)->procs, 2);
        ck_assert(ap_watch_last(w)->has_limit);
        ck_assert_uint_eq(ap_watch_last(w)->affinity, 4);

        r = tick(w);
        ck_assert_uint_eq(r.procs, 2);
        ck_assert_uint_eq(r.flags, 0);

        ap_test_write(tree, LEAF, "50000 100000\n");
        r = tick(w);
        ck_assert_uint_eq(r.procs, 1);
        ck_assert(r.flags & AP_WATCH_LIMIT_CHANGED);
        ck_assert_uint_eq(r.quota_us, 50000);
        ck_assert_uint_eq(r.period_us, 100000);
        r = tick(w);
        ck_assert_uint_eq(r.procs, 1);
        ck_assert_uint_eq(r.flags, 0);

        ap_test_write(tree, LEAF, "250000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 3);

        ap_test_write(tree, LEAF, "max 100000\n");
        r = tick(w);
        ck_assert_uint_eq(r.procs, 4);
        ck_assert(!r.has_limit);

        ap_test_write(tree, LEAF, "100000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 1);

        /* The parent binds when it is lower. */
        ap_test_write(tree, PARENT, "60000 200000\n");
        r = tick(w);
        ck_assert_uint_eq(r.procs, 1);
        ck_assert_uint_eq(r.quota_us, 60000);
        ap_watch_free(w);
}
END_TEST

/* The pacing feedback's counters come from the cpu.stat of the cgroup whose limit binds. */
START_TEST(test_cpu_stat_of_binding_cgroup)
{
        ApWatch *w;
        uint64_t periods = 0, throttled = 0, usage = 0;

        ap_test_write(tree, "sys/fs/cgroup/app.slice/app.service/cpu.stat",
                      "usage_usec 5000\nnr_periods 10\nnr_throttled 1\nthrottled_usec 7\n");
        ap_test_write(tree, "sys/fs/cgroup/app.slice/cpu.stat",
                      "usage_usec 9000\nnr_periods 40\nnr_throttled 4\nthrottled_usec 9\n");
        w = watch_new(AUTOPROCS_POLICY_CEIL);
        ck_assert_int_eq(ap_watch_cpu_stat(w, &periods, &throttled, &usage), 0);
        ck_assert_uint_eq(periods, 10);
        ck_assert_uint_eq(throttled, 1);
        ck_assert_uint_eq(usage, 5000000);
        /* the parent binds now: its counters */
        ap_test_write(tree, PARENT, "60000 200000\n");
        (void)tick(w);
        ck_assert_int_eq(ap_watch_cpu_stat(w, &periods, &throttled, &usage), 0);
        ck_assert_uint_eq(periods, 40);
        ck_assert_uint_eq(throttled, 4);
        /* no limit: nothing to pace to, no counters */
        ap_test_write(tree, LEAF, "max 100000\n");
        ap_test_write(tree, PARENT, "max 100000\n");
        (void)tick(w);
        ck_assert_int_eq(ap_watch_cpu_stat(w, &periods, &throttled, &usage), -ENODATA);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_policy_applies)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_GO125);

        ap_test_write(tree, LEAF, "50000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 2); /* go125: at least 2 */
        ap_test_write(tree, LEAF, "350000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 4);
        ap_test_write(tree, LEAF, "950000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 4); /* capped by affinity */
        ap_watch_free(w);
}
END_TEST

START_TEST(test_moved_to_another_cgroup)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        ApWatchResult r;

        ap_test_write(tree, "sys/fs/cgroup/other.slice/cgroup.controllers", "cpuset cpu io memory pids\n");
        ap_test_write(tree, "sys/fs/cgroup/other.slice/cpu.max", "max 100000\n");
        ap_test_write(tree, "sys/fs/cgroup/other.slice/job/cgroup.controllers", "cpuset cpu io memory pids\n");
        ap_test_write(tree, "sys/fs/cgroup/other.slice/job/cpu.max", "300000 100000\n");
        ap_test_write(tree, "sys/fs/cgroup/other.slice/job/cgroup.procs", "4242\n");
        ck_assert_uint_eq(tick(w).procs, 2);

        ap_test_write(tree, "proc/self/cgroup", "0::/other.slice/job\n");
        r = tick(w);
        ck_assert_uint_eq(r.procs, 3);
        ck_assert(r.flags & AP_WATCH_MOVED);

        /* The old cgroup's files no longer matter; the new one's are watched. */
        ap_test_write(tree, LEAF, "10000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 3);
        ap_test_write(tree, "sys/fs/cgroup/other.slice/job/cpu.max", "50000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 1);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_file_vanishes)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        char path[4096];
        ApWatchResult r;

        ap_test_write(tree, PARENT, "200000 100000\n");
        ck_assert_uint_eq(tick(w).procs, 2); /* leaf 1.5 binds */
        snprintf(path, sizeof(path), "%s/%s", tree, LEAF);
        ck_assert_int_eq(unlink(path), 0);
        r = tick(w);
        /* No cpu.max at the leaf = no limit there: the parent's 2 CPUs bind. */
        ck_assert_uint_eq(r.procs, 2);
        ck_assert_uint_eq(r.quota_us, 200000);
        ck_assert(r.flags & AP_WATCH_RERESOLVED);

        snprintf(path, sizeof(path), "%s/%s", tree, PARENT);
        ck_assert_int_eq(unlink(path), 0);
        r = tick(w);
        ck_assert_uint_eq(r.procs, 4);
        ck_assert(!r.has_limit);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_garbage_never_resizes)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        static const char *const garbage[] = { "banana\n", "", "-5 100000\n", "100000 0\n",
                                               "1 2 3\n", "max max\n" };
        ApWatchResult r;

        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
                ap_test_write(tree, LEAF, garbage[i]);
                r = tick(w);
                ck_assert_msg(r.flags & AP_WATCH_FAILED, "'%s' did not fail", garbage[i]);
                ck_assert_msg(r.procs == 0, "'%s' gave %u", garbage[i], r.procs);
        }
        /* Fixed: back to a size, reported as a change. */
        ap_test_write(tree, LEAF, "250000 100000\n");
        r = tick(w);
        ck_assert_uint_eq(r.procs, 3);
        ck_assert(r.flags & AP_WATCH_LIMIT_CHANGED);
        ck_assert(!(r.flags & AP_WATCH_FAILED));
        ap_watch_free(w);
}
END_TEST

START_TEST(test_mountinfo_change_reresolves)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        char path[4096];
        ApWatchResult r;
        FILE *f;

        ck_assert_uint_eq(tick(w).flags, 0);
        /* Same content, new mtime and size: a remount as the plain-file signature sees it. */
        snprintf(path, sizeof(path), "%s/proc/self/mountinfo", tree);
        f = fopen(path, "ae");
        ck_assert_ptr_nonnull(f);
        fputs("99 24 0:99 / /mnt rw,relatime shared:99 - tmpfs tmpfs rw\n", f);
        ck_assert_int_eq(fclose(f), 0);
        r = tick(w);
        ck_assert(r.flags & AP_WATCH_REMOUNTED);
        ck_assert_uint_eq(r.procs, 2);
        ck_assert_uint_eq(tick(w).flags, 0);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_affinity_change)
{
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        ApWatchResult r;

        ap_test_write(tree, LEAF, "max 100000\n");
        ck_assert_uint_eq(tick(w).procs, 4);
        ap_test_write(tree, "sys/fs/cgroup/app.slice/app.service/cpuset.cpus.effective", "0-2\n");
        r = tick(w);
        ck_assert_uint_eq(r.affinity, 3);
        ck_assert_uint_eq(r.procs, 3);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_affinity_change_short_interval)
{
        /* Ticks closer than 100 ms re-read the affinity every 100 / interval ticks (watch.c:
         * AP_WATCH_AFFINITY_MS): a cpuset change is seen within that many ticks. */
        static const unsigned intervals[] = { 10, 20, 50, 99 };
        const char *cpuset = "sys/fs/cgroup/app.slice/app.service/cpuset.cpus.effective";

        ap_test_write(tree, LEAF, "max 100000\n");
        for (size_t i = 0; i < AP_ELEMENTSOF(intervals); i++) {
                const unsigned bound = 100 / intervals[i];
                autoprocs_config c;
                ApWatch *w = NULL;
                ApWatchResult r = {};
                unsigned n;

                ap_test_write(tree, cpuset, "0-3\n");
                ap_config_init_defaults(&c);
                c.policy = AUTOPROCS_POLICY_CEIL;
                c.root = tree;
                c.interval_ms = intervals[i];
                ck_assert_int_eq(ap_watch_new(&c, &w), 0);
                ck_assert_uint_eq(tick(w).affinity, 4);
                ap_test_write(tree, cpuset, "0-2\n");
                for (n = 1; n <= bound; n++) {
                        r = tick(w);
                        if (r.affinity != 4)
                                break;
                }
                ck_assert_msg(r.affinity == 3 && r.procs == 3,
                              "interval %u ms: the cpuset change not seen within %u ticks (affinity %u)",
                              intervals[i], bound, r.affinity);
                ck_assert(r.flags & AP_WATCH_LIMIT_CHANGED);
                ap_watch_free(w);
        }
}
END_TEST

START_TEST(test_confirm_read)
{
        /* With a confirmation delay a stable change goes through the same. */
        ApWatch *w = watch_new(AUTOPROCS_POLICY_CEIL);
        ApWatchResult r;

        ap_test_write(tree, LEAF, "50000 100000\n");
        ck_assert_int_eq(ap_watch_tick(w, 1000000, &r), 0);
        ck_assert_uint_eq(r.procs, 1);
        ap_watch_free(w);
}
END_TEST

START_TEST(test_confirm_filters_half_written_pair)
{
        /* 150000/100000 (1.5 -> 2) becomes 250000/50000 (5, capped by the 4 CPUs -> 4), quota
         * first: the first read sees 250000/100000 (2.5 -> 3), a size the cgroup never had. */
        char *t = ap_test_fixture_copy("v1-cpu-cpuacct");
        ApTestHalfWrite h = { .lock = PTHREAD_MUTEX_INITIALIZER, .tree = t, .period = "50000\n" };
        autoprocs_config c;
        ApWatch *w = NULL;
        ApWatchResult r;

        ap_config_init_defaults(&c);
        c.policy = AUTOPROCS_POLICY_CEIL;
        c.root = t;
        ck_assert_int_eq(ap_watch_new(&c, &w), 0);
        ck_assert_uint_eq(ap_watch_last(w)->procs, 2);
        ap_watch_set_confirm_hook(ap_test_finish_pair, &h);

        ap_test_write(t, AP_TEST_V1_LEAF "/cpu.cfs_quota_us", "250000\n");
        ck_assert_int_eq(ap_watch_tick(w, 1000, &r), 0);
        ck_assert_msg(h.calls == 1, "no confirming read of the changed pair (%u)", h.calls);
        ck_assert_msg(!(r.flags & AP_WATCH_LIMIT_CHANGED) && r.procs == 2 && r.quota_us == 150000 &&
                              r.period_us == 100000,
                      "the half-written pair was reported: procs %u, %llu/%llu, flags %#x", r.procs,
                      (unsigned long long)r.quota_us, (unsigned long long)r.period_us, r.flags);
        ck_assert_uint_eq(ap_watch_last(w)->procs, 2);

        /* The next tick sees the finished pair, confirms it and reports it. */
        ck_assert_int_eq(ap_watch_tick(w, 1000, &r), 0);
        ck_assert_uint_eq(h.calls, 2);
        ck_assert(r.flags & AP_WATCH_LIMIT_CHANGED);
        ck_assert_uint_eq(r.procs, 4);
        ck_assert_uint_eq(r.quota_us, 250000);
        ck_assert_uint_eq(r.period_us, 50000);
        ap_watch_set_confirm_hook(NULL, NULL);
        ap_watch_free(w);
        ap_test_rmtree(t);
}
END_TEST

START_TEST(test_counters_v1_cpuacct_apart)
{
        /* cpu and cpuacct mounted apart, the process in /job and /acct/job: usage is
         * cpuacct/acct/job's 123456789 ns, not the decoys in cpu/job or cpuacct/job. */
        char *t = ap_test_fixture_copy("v1-cpu-cpuacct-apart");
        ApWatchCounters ctr;
        autoprocs_config c;
        ApWatch *w = NULL;

        ap_config_init_defaults(&c);
        c.root = t;
        ck_assert_int_eq(ap_watch_new(&c, &w), 0);
        ck_assert_int_eq(ap_watch_counters(w, &ctr), 0);
        ck_assert(ctr.has_stat);
        ck_assert_uint_eq(ctr.stat.nr_periods, 12);
        ck_assert(ctr.stat.has_usage);
        ck_assert_uint_eq(ctr.stat.usage_usec, 123456);
        ap_watch_free(w);
        ap_test_rmtree(t);
}
END_TEST

START_TEST(test_live_system)
{
        autoprocs_config c;
        ApWatch *w = NULL;
        ApWatchResult r;

        ap_config_init_defaults(&c);
        ck_assert_int_eq(ap_watch_new(&c, &w), 0);
        ck_assert_uint_ge(ap_watch_last(w)->procs, 1);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(ap_watch_tick(w, 0, &r), 0);
                ck_assert_uint_ge(r.procs, 1);
                /* (A mount elsewhere on the machine may flag REMOUNTED: not asserted.) */
                ck_assert(!(r.flags & AP_WATCH_FAILED));
        }
        ap_watch_free(w);
}
END_TEST

/* In a private mount namespace (nothing else mounts there): a tick sees REMOUNTED exactly when
 * the mount table changed, through procfs' POLLPRI on the kept mountinfo fd. */
static const char *remount_in_ns(void *arg)
{
        static char why[256];
        const char *dir = arg;
        autoprocs_config c;
        ApWatch *w = NULL;
        ApWatchResult r;

        ap_config_init_defaults(&c);
        if (ap_watch_new(&c, &w) < 0)
                return "ap_watch_new on the live system failed";
#define TICK_FLAGS(want, what)                                                                     \
        do {                                                                                       \
                (void)ap_watch_tick(w, 0, &r);                                                     \
                if (!!(r.flags & AP_WATCH_REMOUNTED) != (want)) {                                  \
                        snprintf(why, sizeof(why), "%s: flags %#x", what, r.flags);                \
                        return why;                                                                \
                }                                                                                  \
        } while (0)
        TICK_FLAGS(false, "REMOUNTED with no mount change");
        if (mount("autoprocs-test", dir, "tmpfs", 0, "size=64k") < 0)
                return "mount tmpfs failed";
        TICK_FLAGS(true, "a tmpfs mounted and no REMOUNTED");
        TICK_FLAGS(false, "REMOUNTED again with no further change");
        if (umount(dir) < 0)
                return "umount failed";
        TICK_FLAGS(true, "a tmpfs unmounted and no REMOUNTED");
        TICK_FLAGS(false, "REMOUNTED after the unmount was seen");
#undef TICK_FLAGS
        ap_watch_free(w);
        return NULL;
}

START_TEST(test_live_remount)
{
        char *dir = ap_test_fixture_copy(NULL);

        ap_test_in_private_mounts(remount_in_ns, dir);
        ap_test_rmtree(dir);
}
END_TEST

START_TEST(test_v1_quota_and_period)
{
        autoprocs_config c;
        ApWatch *w = NULL;
        char *t = ap_test_fixture_copy("v1-cpu-cpuacct");
        ApWatchResult r;
        char leaf[512];
        FILE *p;

        /* Find the process directory in this fixture from its cgroup file (cpu,cpuacct line). */
        snprintf(leaf, sizeof(leaf), "grep -h ':cpu,cpuacct:' '%s/proc/self/cgroup' | cut -d: -f3",
                 t);
        p = popen(leaf, "r");
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(fgets(leaf, sizeof(leaf), p));
        pclose(p);
        leaf[strcspn(leaf, "\n")] = 0;

        ap_config_init_defaults(&c);
        c.policy = AUTOPROCS_POLICY_CEIL;
        c.root = t;
        ck_assert_int_eq(ap_watch_new(&c, &w), 0);
        {
                char q[1024], per[1024];

                snprintf(q, sizeof(q), "sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_quota_us", leaf);
                snprintf(per, sizeof(per), "sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_period_us", leaf);
                ap_test_write(t, per, "100000\n");
                ap_test_write(t, q, "50000\n");
                r = tick(w);
                ck_assert_uint_eq(r.procs, 1);
                ck_assert_uint_eq(r.quota_us, 50000);
                ap_test_write(t, q, "-1\n");
                r = tick(w);
                /* -1 at the leaf and above: no limit, the 4 CPUs of affinity. */
                ck_assert(!r.has_limit);
                ck_assert_uint_eq(r.quota_us, 0);
                ck_assert_uint_eq(r.procs, 4);
                ck_assert(r.flags & AP_WATCH_LIMIT_CHANGED);
                ap_test_write(t, per, "50000\n");
                ap_test_write(t, q, "125000\n");
                r = tick(w);
                ck_assert_uint_eq(r.quota_us, 125000);
                ck_assert_uint_eq(r.period_us, 50000);
                ck_assert_uint_eq(r.affinity, 4);
                ck_assert_uint_eq(r.procs, 3);
        }
        ap_watch_free(w);
        ap_test_rmtree(t);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("watch");
        TCase *tc = tcase_create("fixtures");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_limit_sequence);
        tcase_add_test(tc, test_policy_applies);
        tcase_add_test(tc, test_cpu_stat_of_binding_cgroup);
        tcase_add_test(tc, test_moved_to_another_cgroup);
        tcase_add_test(tc, test_file_vanishes);
        tcase_add_test(tc, test_garbage_never_resizes);
        tcase_add_test(tc, test_mountinfo_change_reresolves);
        tcase_add_test(tc, test_affinity_change);
        tcase_add_test(tc, test_affinity_change_short_interval);
        tcase_add_test(tc, test_confirm_read);
        tcase_add_test(tc, test_confirm_filters_half_written_pair);
        tcase_add_test(tc, test_counters_v1_cpuacct_apart);
        tcase_add_test(tc, test_live_system);
        tcase_add_test(tc, test_v1_quota_and_period);
        suite_add_tcase(s, tc);
        {
                const char *why = ap_test_private_mounts_why();

                if (why) {
                        fprintf(stderr, "SKIP: the live mount-change case: %s\n", why);
                } else {
                        TCase *live = tcase_create("live-mounts");

                        tcase_add_test(live, test_live_remount);
                        suite_add_tcase(s, live);
                }
        }
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
