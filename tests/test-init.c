/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_init() on a fixture tree with a 10 ms watcher: the runtime's processor count
 * (autoprocs_procs()) follows the limit as the test rewrites cpu.max; the procs-changed callback
 * sees each change once with (old, new), starting with (0, N); environment overrides; a fixed
 * count; idempotence; autoprocs_procs_set() holding until the limit changes.
 */
#include <pthread.h>
#include <time.h>

#include "autoprocs.h"
#include "lib/init.h"
#include "lib/util/macro.h"
#include "lib/watch.h"
#include "lib/watch-damper.h"
#include "tests/ap-test.h"

#define LEAF "sys/fs/cgroup/app.slice/app.service/cpu.max"

static char *tree;

typedef struct Calls {
        pthread_mutex_t lock;
        unsigned n;
        unsigned old[64], new[64];
        unsigned events;
        unsigned config_invalid, limit_changed, resizes, probe_failed;
        char last_invalid[512];
} Calls;

static Calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_changed(unsigned old_procs, unsigned new_procs, void *ud)
{
        Calls *c = ud;

        /* May call the library from here (documented). */
        ck_assert_uint_gt(autoprocs_procs(), 0);
        pthread_mutex_lock(&c->lock);
        if (c->n < AP_ELEMENTSOF(c->old)) {
                c->old[c->n] = old_procs;
                c->new[c->n] = new_procs;
        }
        c->n++;
        pthread_mutex_unlock(&c->lock);
}

static void on_log(autoprocs_log_level level, const char *event, const char *message, void *ud)
{
        Calls *c = ud;

        (void)level;
        pthread_mutex_lock(&c->lock);
        c->events++;
        if (strcmp(event, "config-invalid") == 0) {
                c->config_invalid++;
                snprintf(c->last_invalid, sizeof(c->last_invalid), "%s", message);
        } else if (strcmp(event, "limit-changed") == 0) {
                c->limit_changed++;
        } else if (strcmp(event, "resize") == 0) {
                c->resizes++;
        } else if (strcmp(event, "probe-failed") == 0) {
                c->probe_failed++;
        }
        pthread_mutex_unlock(&c->lock);
}

static void setup(void)
{
        tree = ap_test_fixture_copy("v2-quota-1.5");
        /* The environment of the test runner must not leak in. */
        unsetenv("AUTOPROCS_PROCS");
        unsetenv("AUTOPROCS_POLICY");
        unsetenv("AUTOPROCS_MIN");
        unsetenv("AUTOPROCS_RESERVE");
        unsetenv("AUTOPROCS_INTERVAL");
}

static void teardown(void)
{
        autoprocs_shutdown();
        ap_test_rmtree(tree);
        tree = NULL;
}

static autoprocs_config *config_new(unsigned interval_ms)
{
        autoprocs_config *c = NULL;

        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, (uint64_t)(interval_ms) * 1000000u), 0);
        ck_assert_int_eq(autoprocs_config_set_procs_changed_callback(c, on_changed, &calls), 0);
        ck_assert_int_eq(autoprocs_config_set_log_callback(c, on_log, &calls), 0);
        return c;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait (up to 3 s) for the count in force to be @want; returns how long it took in ms. */
static uint64_t wait_procs(unsigned want)
{
        uint64_t start = now_ms();

        while (autoprocs_procs() != want) {
                ck_assert_msg(now_ms() - start < 10000, "processor count %u, want %u after 10 s",
                              autoprocs_procs(), want);
                usleep(1000);
        }
        return now_ms() - start;
}

START_TEST(test_follows_the_limit)
{
        autoprocs_config *c = config_new(10);
        static const struct {
                const char *cpu_max;
                unsigned procs;
        } steps[] = {
                { "50000 100000\n", 1 },  /* 0.5 */
                { "250000 100000\n", 3 }, /* 2.5 */
                { "max 100000\n", 4 },    /* unlimited: affinity */
                { "100000 100000\n", 1 }, /* 1 */
        };
        unsigned want_old[] = { 0, 2, 1, 3, 4 }, want_new[] = { 2, 1, 3, 4, 1 };

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 2); /* 1.5 -> ceil 2 */
        for (size_t i = 0; i < AP_ELEMENTSOF(steps); i++) {
                uint64_t ms;

                ap_test_write(tree, LEAF, steps[i].cpu_max);
                ms = wait_procs(steps[i].procs);
                fprintf(stderr, "cpu.max '%.*s' -> %u processors in %llu ms\n",
                        (int)strcspn(steps[i].cpu_max, "\n"), steps[i].cpu_max, steps[i].procs,
                        (unsigned long long)ms);
                ck_assert_int_eq(autoprocs_procs_wait(1000 * 1000000ull), 0);
        }
        /* Let a few more ticks pass: nothing else may happen. */
        usleep(100 * 1000);
        ck_assert_uint_eq(autoprocs_procs(), 1);
        ck_assert_uint_ge(ap_init_watcher_ticks(), 10);
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.n, AP_ELEMENTSOF(want_old));
        for (size_t i = 0; i < AP_ELEMENTSOF(want_old); i++) {
                ck_assert_msg(calls.old[i] == want_old[i] && calls.new[i] == want_new[i],
                              "callback %zu: (%u, %u), want (%u, %u)", i, calls.old[i], calls.new[i],
                              want_old[i], want_new[i]);
        }
        ck_assert_uint_eq(calls.resizes, 4);
        ck_assert_uint_ge(calls.limit_changed, 4);
        pthread_mutex_unlock(&calls.lock);
}
END_TEST

START_TEST(test_garbage_and_move)
{
        autoprocs_config *c = config_new(10);

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ap_test_write(tree, LEAF, "50000 100000\n");
        wait_procs(1);
        /* Garbage: one probe-failed event, the size stays. */
        ap_test_write(tree, LEAF, "garbage\n");
        usleep(100 * 1000);
        ck_assert_uint_eq(autoprocs_procs(), 1);
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.probe_failed, 1);
        pthread_mutex_unlock(&calls.lock);
        /* Moved to another cgroup with 3 CPUs. */
        ap_test_write(tree, "sys/fs/cgroup/other/cgroup.controllers", "cpuset cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/other/cpu.max", "300000 100000\n");
        ap_test_write(tree, "proc/self/cgroup", "0::/other\n");
        wait_procs(3);
}
END_TEST

/* Rewrite the leaf's cpu.max in place, fast (no mkdir, no fork). */
static void write_leaf(const char *content)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", tree, LEAF);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(content, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* Wait until the watcher has finished another tick; returns how many it finished meanwhile
 * (more than 1: a loaded machine made us miss some). */
static unsigned long next_tick(void)
{
        unsigned long t = ap_init_watcher_ticks(), now;
        uint64_t start = now_ms();

        while ((now = ap_init_watcher_ticks()) == t) {
                ck_assert_msg(now_ms() - start < 10000, "the watcher stopped ticking");
                usleep(200);
        }
        return now - t;
}

/* A mount-table change that changes no answer logs nothing (it did: one line per container start
 * on a busy host); a limit change afterwards is logged once. */
START_TEST(test_mounts_changed_quiet)
{
        autoprocs_config *c = config_new(10);
        char mi[1024] = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                        "30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        unsigned before;

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        next_tick();
        pthread_mutex_lock(&calls.lock);
        before = calls.limit_changed;
        pthread_mutex_unlock(&calls.lock);
        for (int i = 0; i < 3; i++) {
                /* Another network namespace bound under /run/netns (nsfs: root "net:[N]"). */
                size_t n = strlen(mi);

                snprintf(mi + n, sizeof(mi) - n, "%d 26 0:4 net:[402653229%d] /run/netns/n%d rw - nsfs nsfs rw\n",
                         90 + i, i, i);
                /* written aside and renamed: the watcher never sees it half written */
                {
                        char from[4096], to[4096];

                        ap_test_write(tree, "proc/self/mountinfo.new", mi);
                        snprintf(from, sizeof(from), "%s/proc/self/mountinfo.new", tree);
                        snprintf(to, sizeof(to), "%s/proc/self/mountinfo", tree);
                        ck_assert_int_eq(rename(from, to), 0);
                }
                next_tick();
                next_tick();
        }
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.limit_changed, before);
        pthread_mutex_unlock(&calls.lock);
        ap_test_write(tree, LEAF, "50000 100000\n");
        wait_procs(1);
        /* the event follows the resize on the watcher thread: wait for it, then for no second */
        {
                uint64_t start = now_ms();
                unsigned n;

                do {
                        pthread_mutex_lock(&calls.lock);
                        n = calls.limit_changed;
                        pthread_mutex_unlock(&calls.lock);
                        if (n == before + 1)
                                break;
                        usleep(1000);
                } while (now_ms() - start < 5000);
                next_tick();
                pthread_mutex_lock(&calls.lock);
                ck_assert_uint_eq(calls.limit_changed, before + 1);
                pthread_mutex_unlock(&calls.lock);
        }
}
END_TEST

START_TEST(test_garbage_at_start)
{
        /* A bad leaf at start: init still sizes from what is readable (the unlimited parent:
         * 4 CPUs of affinity), then follows once the file is good. */
        autoprocs_config *c = config_new(10);

        ap_test_write(tree, LEAF, "half a CPU\n");
        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 4);
        ap_test_write(tree, LEAF, "150000 100000\n");
        wait_procs(2);
}
END_TEST

START_TEST(test_flapping_limit_resizes_once)
{
        autoprocs_config *c = config_new(100);
        unsigned n, late = 0;

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        write_leaf("50000 100000\n");
        wait_procs(1);
        ck_assert_int_eq(autoprocs_procs_wait(1000 * 1000000ull), 0);
        pthread_mutex_lock(&calls.lock);
        n = calls.n;
        pthread_mutex_unlock(&calls.lock);
        /* Flip 1.5 <-> 0.5 (2 <-> 1 processors) after every tick: 40 flips.  100 ms ticks leave
         * the test time to write before the next one, even in a sanitizer build.  A flip is late
         * when the watcher ticked more than once since the last (we missed one) or while we
         * wrote: a value may then have been seen twice in a row. */
        for (int i = 0; i < 40; i++) {
                unsigned long t;

                if (next_tick() > 1)
                        late++;
                t = ap_init_watcher_ticks();
                write_leaf(i % 2 ? "50000 100000\n" : "150000 100000\n");
                if (ap_init_watcher_ticks() != t)
                        late++;
        }
        next_tick();
        write_leaf("50000 100000\n");
        /* 0.5 CPU from now on: a held reversal goes through after AP_WATCH_REVERSAL_TICKS */
        wait_procs(1);
        for (unsigned i = 0; i < AP_WATCH_SETTLE_TICKS; i++)
                next_tick();
        pthread_mutex_lock(&calls.lock);
        fprintf(stderr, "40 flips, one per tick (%u late): %u resizes\n", late, calls.n - n);
        /* The first flip may go through (not a reversal yet); then none while it flaps, and the
         * last may come back to 1.  One more for each flip a loaded machine made late. */
        ck_assert_uint_le(calls.n - n, 3 + late);
        pthread_mutex_unlock(&calls.lock);
        ck_assert_uint_eq(autoprocs_procs(), 1);
}
END_TEST

START_TEST(test_half_written_v1_pair_never_resizes)
{
        /* 150000/100000 (ceil 2) -> 250000/50000 (capped by the 4 CPUs: 4), the quota written
         * first: the watcher's first read sees 250000/100000 (3), a size never to be taken. */
        static ApTestHalfWrite h = { .lock = PTHREAD_MUTEX_INITIALIZER, .period = "50000\n" };
        autoprocs_config *c;
        unsigned hooked = 0;
        uint64_t start;

        ap_test_rmtree(tree);
        tree = ap_test_fixture_copy("v1-cpu-cpuacct");
        h.calls = 0;
        h.tree = tree;
        ap_watch_set_confirm_hook(ap_test_finish_pair, &h);
        c = config_new(10);
        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 2);
        ap_test_write(tree, AP_TEST_V1_LEAF "/cpu.cfs_quota_us", "250000\n");
        /* Until the watcher has confirmed (or, without confirmation, resized to the half pair). */
        for (start = now_ms(); now_ms() - start < 3000 && autoprocs_procs() == 2 && !hooked;
             usleep(1000))
                hooked = ap_test_half_write_calls(&h);
        ck_assert_msg(autoprocs_procs() != 3, "resized to the half-written pair's 3");
        ck_assert_msg(hooked > 0 || autoprocs_procs() == 4, "no confirming read within 3 s");
        wait_procs(4);
        autoprocs_shutdown();
        ap_watch_set_confirm_hook(NULL, NULL);
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.n, 2);
        ck_assert_msg(calls.old[1] == 2 && calls.new[1] == 4, "callback 1: (%u, %u), want (2, 4)",
                      calls.old[1], calls.new[1]);
        pthread_mutex_unlock(&calls.lock);
}
END_TEST

START_TEST(test_idempotent_and_restart)
{
        autoprocs_config *c = config_new(10);

        ck_assert_int_eq(autoprocs_init(c), 0);
        ck_assert_int_eq(autoprocs_init(c), 1);
        ck_assert_int_eq(autoprocs_init(NULL), 1);
        autoprocs_shutdown();
        autoprocs_shutdown();
        ck_assert_uint_eq(autoprocs_procs(), 0);
        ck_assert_int_eq(autoprocs_procs_set(2), -ESRCH);
        ap_test_write(tree, LEAF, "250000 100000\n");
        ck_assert_int_eq(autoprocs_init(c), 0);
        ck_assert_uint_eq(autoprocs_procs(), 3);
        autoprocs_config_free(c);
}
END_TEST

START_TEST(test_env_fixed_procs)
{
        autoprocs_config *c = config_new(10);
        clockid_t clk;

        setenv("AUTOPROCS_PROCS", "3", 1);
        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 3);
        /* No watcher: limit changes are ignored. */
        ck_assert_int_eq(ap_init_watcher_clock(&clk), -ESRCH);
        ap_test_write(tree, LEAF, "50000 100000\n");
        usleep(100 * 1000);
        ck_assert_uint_eq(autoprocs_procs(), 3);
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.n, 1);
        ck_assert_uint_eq(calls.old[0], 0);
        ck_assert_uint_eq(calls.new[0], 3);
        pthread_mutex_unlock(&calls.lock);
}
END_TEST

START_TEST(test_env_bad_values)
{
        autoprocs_config *c = config_new(10);

        setenv("AUTOPROCS_PROCS", "many", 1);
        setenv("AUTOPROCS_POLICY", "floor", 1);
        setenv("AUTOPROCS_INTERVAL", "1ms", 1);
        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        pthread_mutex_lock(&calls.lock);
        ck_assert_uint_eq(calls.config_invalid, 2);
        pthread_mutex_unlock(&calls.lock);
        /* Policy floor from the environment: 1.5 -> 1; watching at the configured 10 ms. */
        ck_assert_uint_eq(autoprocs_procs(), 1);
        ap_test_write(tree, LEAF, "250000 100000\n");
        wait_procs(2);
}
END_TEST

START_TEST(test_manual_set_holds_until_limit_changes)
{
        autoprocs_config *c = config_new(10);

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_int_eq(autoprocs_procs_set(0), -EINVAL);
        ck_assert_int_eq(autoprocs_procs_set(4), 0);
        ck_assert_int_eq(autoprocs_procs_wait(2000 * 1000000ull), 0);
        ck_assert_uint_eq(autoprocs_procs(), 4);
        usleep(100 * 1000);
        ck_assert_uint_eq(autoprocs_procs(), 4);
        ap_test_write(tree, LEAF, "50000 100000\n");
        wait_procs(1);
}
END_TEST

START_TEST(test_interval_zero_no_watching)
{
        autoprocs_config *c = config_new(0);
        clockid_t clk;

        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 2);
        ck_assert_int_eq(ap_init_watcher_clock(&clk), -ESRCH);
}
END_TEST

static _Atomic int reentry_init_ret = -100; /* written by the watcher thread */

static void on_changed_reentry(unsigned old_procs, unsigned new_procs, void *ud)
{
        (void)ud;
        if (old_procs == 0)
                return; /* the first call is from autoprocs_init() itself */
        /* On the watcher thread: init says "running", shutdown refuses instead of hanging. */
        reentry_init_ret = autoprocs_init(NULL);
        autoprocs_shutdown();
        ck_assert_uint_gt(autoprocs_procs(), 0); /* the runtime still runs */
        (void)new_procs;
}

START_TEST(test_callback_reentry)
{
        autoprocs_config *c = config_new(10);

        ck_assert_int_eq(autoprocs_config_set_procs_changed_callback(c, on_changed_reentry, NULL), 0);
        ck_assert_int_eq(autoprocs_init(c), 0);
        autoprocs_config_free(c);
        ap_test_write(tree, LEAF, "50000 100000\n");
        wait_procs(1);
        usleep(50 * 1000);
        ck_assert_int_eq(reentry_init_ret, 1);
        ck_assert_uint_eq(autoprocs_procs(), 1); /* still running */
}
END_TEST

static void *init_thread(void *c)
{
        return (void *)(intptr_t)autoprocs_init(c);
}

START_TEST(test_concurrent_init)
{
        /* Many threads race to init: exactly one gets 0, the rest 1. */
        enum { N = 8 };
        autoprocs_config *c = config_new(10);
        pthread_t t[N];
        int zeros = 0, ones = 0;

        for (int i = 0; i < N; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, init_thread, c), 0);
        for (int i = 0; i < N; i++) {
                void *ret;

                pthread_join(t[i], &ret);
                zeros += (int)(intptr_t)ret == 0;
                ones += (int)(intptr_t)ret == 1;
        }
        ck_assert_int_eq(zeros, 1);
        ck_assert_int_eq(ones, N - 1);
        autoprocs_config_free(c);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("init");
        TCase *tc = tcase_create("fixture");

        tcase_set_timeout(tc, 20);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_follows_the_limit);
        tcase_add_test(tc, test_garbage_and_move);
        tcase_add_test(tc, test_mounts_changed_quiet);
        tcase_add_test(tc, test_garbage_at_start);
        tcase_add_test(tc, test_flapping_limit_resizes_once);
        tcase_add_test(tc, test_half_written_v1_pair_never_resizes);
        tcase_add_test(tc, test_idempotent_and_restart);
        tcase_add_test(tc, test_env_fixed_procs);
        tcase_add_test(tc, test_env_bad_values);
        tcase_add_test(tc, test_manual_set_holds_until_limit_changes);
        tcase_add_test(tc, test_interval_zero_no_watching);
        tcase_add_test(tc, test_concurrent_init);
        tcase_add_test(tc, test_callback_reentry);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
