/* SPDX-License-Identifier: MIT */
/*
 * Hogs (lib/runtime/hog.c): detection on the thread's CPU time at every call into the task API,
 * rate-limited reports, and the hand-off of a hog's processor to another thread while work
 * waits behind it (also for a resize).  Each test runs in its own forked process; they wait for
 * conditions with generous deadlines, never for fixed times.
 */
#include <stdatomic.h>
#include <string.h>

#include "lib/runtime/internal.h"
#include "tests/ap-test.h"

#define DEADLINE_NS (20ull * 1000000000u)

static _Atomic int hog_lines;
static char last_line[256];

static void log_cb(autoprocs_log_level level, const char *event, const char *msg, void *ud)
{
        (void)ud;
        if (strcmp(event, "hog") != 0)
                return;
        ck_assert_int_eq(level, AUTOPROCS_LOG_WARNING);
        ck_assert_msg(strncmp(msg, "task ", 5) == 0 &&
                              strstr(msg, " ms of CPU time on processor ") &&
                              strstr(msg, " without a scheduling point"),
                      "hog message: %s", msg);
        snprintf(last_line, sizeof(last_line), "%s", msg);
        atomic_fetch_add(&hog_lines, 1);
}

static int lines(void)
{
        return atomic_load(&hog_lines);
}

static void start(unsigned procs)
{
        ApRtOptions o = { .procs = procs, .log_fn = log_cb };

        ck_assert_int_eq(ap_rt_start(&o), 0);
}

static autoprocs_stats stats(void)
{
        autoprocs_stats s;

        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        return s;
}

static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Burn @ns of this thread's CPU time with no call into the runtime (the thread may change
 * only at a scheduling point, so the clock stays this thread's). */
static void spin_cpu(uint64_t ns)
{
        uint64_t t0 = thread_cpu_ns();

        while (thread_cpu_ns() - t0 < ns)
                ;
}

static _Atomic bool stop;

/* ---- detection ------------------------------------------------------------------------------ */

/* Busy for 300 ms of wall time, with a scheduling point about every 100 µs of CPU: a checkpoint,
 * or a receive from a non-empty channel (which does not block). */
static void busy_checkpoint(void *arg)
{
        autoprocs_chan *c = arg;
        uint64_t t0 = ap_now_ns(), v = 1;

        while (ap_now_ns() - t0 < 300000000u) {
                spin_cpu(100000);
                if (c) {
                        ck_assert_int_eq(autoprocs_chan_send(c, &v), 0);
                        ck_assert_int_eq(autoprocs_chan_recv(c, &v), 0);
                } else {
                        autoprocs_checkpoint();
                }
        }
}

START_TEST(test_checkpoint_never_reported)
{
        autoprocs_task *a, *b;
        autoprocs_chan *c;

        start(2);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(uint64_t), 4, &c), 0);
        autoprocs_spawn(busy_checkpoint, NULL, &a);
        autoprocs_spawn(busy_checkpoint, c, &b);
        autoprocs_task_join(a);
        autoprocs_task_join(b);
        ck_assert_int_eq(lines(), 0);
        ck_assert_uint_eq(stats().hogs, 0);
        ap_rt_stop();
        autoprocs_chan_free(c);
}
END_TEST

static void nop(void *arg)
{
        (void)arg;
}

static uint64_t my_tick(void)
{
        return atomic_load(&ap_cur_m()->rt_tick);
}

/* Every call into the task API moves the thread's tick (even again once back in task code). */
static void calls_api(void *arg)
{
        autoprocs_chan *c;
        autoprocs_mutex *mu;
        autoprocs_wg *wg;
        uint64_t v = 7, t;

        (void)arg;
        ck_assert_int_eq(autoprocs_chan_new(sizeof(v), 2, &c), 0);
        ck_assert_int_eq(autoprocs_mutex_new(&mu), 0);
        ck_assert_int_eq(autoprocs_wg_new(&wg), 0);
#define MOVES(call)                                                                             \
        do {                                                                                    \
                t = my_tick();                                                                  \
                ck_assert_uint_eq(t % 2, 0);                                                    \
                call;                                                                           \
                ck_assert_msg(my_tick() != t && my_tick() % 2 == 0, "%s: tick %llu -> %llu",    \
                              #call, (unsigned long long)t, (unsigned long long)my_tick());     \
        } while (0)
        MOVES(autoprocs_checkpoint());
        MOVES(autoprocs_chan_send(c, &v));
        MOVES(autoprocs_chan_recv(c, &v));
        MOVES(autoprocs_chan_close(c));
        MOVES(autoprocs_mutex_lock(mu));
        MOVES(autoprocs_mutex_unlock(mu));
        MOVES(autoprocs_wg_add(wg, 1));
        MOVES(autoprocs_wg_done(wg));
        MOVES(autoprocs_wg_wait(wg));
        MOVES(autoprocs_spawn(nop, NULL, NULL));
        MOVES(autoprocs_yield());
        MOVES(autoprocs_sleep_ns(1000));
        MOVES(autoprocs_block_begin());
        MOVES(autoprocs_block_end());
#undef MOVES
        autoprocs_chan_free(c);
        autoprocs_mutex_free(mu);
        autoprocs_wg_free(wg);
}

START_TEST(test_every_call_is_a_scheduling_point)
{
        autoprocs_task *t;

        start(1);
        autoprocs_spawn(calls_api, NULL, &t);
        autoprocs_task_join(t);
        ap_rt_stop();
}
END_TEST

/* Holds its processor for 2 x 60 ms of wall time without a scheduling point, but on no CPU. */
static void sleep_without_region(void *arg)
{
        (void)arg;
        for (int i = 0; i < 2; i++) {
                struct timespec ts = { .tv_nsec = 60000000 };

                while (nanosleep(&ts, &ts) < 0)
                        ;
        }
}

START_TEST(test_wall_time_is_no_hog)
{
        autoprocs_task *t;

        start(1);
        autoprocs_spawn(sleep_without_region, NULL, &t);
        autoprocs_task_join(t);
        ck_assert_int_eq(lines(), 0);
        ck_assert_uint_eq(stats().hogs, 0);
        ap_rt_stop();
}
END_TEST

/* Two hogs of 100 ms CPU, with one scheduling point between them. */
static void spin_twice(void *arg)
{
        (void)arg;
        spin_cpu(100000000u);
        autoprocs_checkpoint();
        spin_cpu(100000000u);
}

START_TEST(test_spin_reported_once)
{
        autoprocs_task *t;
        unsigned ms;

        start(2);
        autoprocs_spawn(spin_twice, NULL, &t);
        autoprocs_task_join(t);
        /* both counted, one line: reports are at most one a minute per task */
        ck_assert_uint_eq(stats().hogs, 2);
        ck_assert_int_eq(lines(), 1);
        ck_assert_msg(sscanf(last_line, "task %*u ran %u ms", &ms) == 1 && ms >= 10 && ms <= 100,
                      "hog line: %s", last_line);
        ap_rt_stop();
}
END_TEST

/* ---- hand-off ------------------------------------------------------------------------------- */

static _Atomic int hogs_running;

/* A hog that spins until told to stop (or a safety deadline, so a failure cannot hang). */
static void hog_until_stopped(void *arg)
{
        uint64_t t0 = ap_now_ns();

        (void)arg;
        atomic_fetch_add(&hogs_running, 1);
        while (!atomic_load(&stop) && ap_now_ns() - t0 < DEADLINE_NS)
                ;
}

static void stopper(void *arg)
{
        (void)arg;
        atomic_store(&stop, true);
}

static void wait_for(_Atomic int *v, int n)
{
        uint64_t t0 = ap_now_ns();

        while (atomic_load(v) < n && ap_now_ns() - t0 < DEADLINE_NS)
                usleep(1000);
        {
                int got = atomic_load(v);

                ck_assert_int_ge(got, n);
        }
}

START_TEST(test_handoff_runs_queued_work)
{
        autoprocs_task *h, *q;
        autoprocs_stats s;

        start(1);
        autoprocs_spawn(hog_until_stopped, NULL, &h);
        wait_for(&hogs_running, 1);
        /* the only P is hogged: the stopper runs only if the monitor hands the P away */
        autoprocs_spawn(stopper, NULL, &q);
        autoprocs_task_join(q);
        s = stats();
        ck_assert_uint_ge(s.hog_handoffs, 1);
        ck_assert_uint_le(s.hog_threads, 1);
        autoprocs_task_join(h);
        /* the hog rejoined when it finished */
        ck_assert_uint_eq(stats().hog_threads, 0);
        ck_assert_int_ge(lines(), 1);
        ap_rt_stop();
}
END_TEST

static _Atomic int spins_done;

static void spin_200ms(void *arg)
{
        (void)arg;
        spin_cpu(200000000u);
        atomic_fetch_add(&spins_done, 1);
}

START_TEST(test_handoff_bounded)
{
        autoprocs_task *t[4];
        uint64_t max = 0;

        start(1);
        for (int i = 0; i < 4; i++)
                autoprocs_spawn(spin_200ms, NULL, &t[i]);
        /* every hog has work queued behind it; at most one thread runs a hog without a P */
        while (atomic_load(&spins_done) < 4) {
                autoprocs_stats s = stats();

                max = s.hog_threads > max ? s.hog_threads : max;
                usleep(500);
        }
        for (int i = 0; i < 4; i++)
                autoprocs_task_join(t[i]);
        ck_assert_uint_le(max, 1);
        ck_assert_uint_ge(stats().hog_handoffs, 1);
        ck_assert_uint_eq(stats().hog_threads, 0);
        ap_rt_stop();
}
END_TEST

START_TEST(test_shrink_past_hogs)
{
        autoprocs_task *h[2];

        start(2);
        for (int i = 0; i < 2; i++)
                autoprocs_spawn(hog_until_stopped, NULL, &h[i]);
        wait_for(&hogs_running, 2);
        /* both Ps run hogs: the removed one is handed off instead of waiting for the hog */
        ck_assert_int_eq(ap_rt_set_procs(1), 0);
        ck_assert_int_eq(ap_rt_wait_procs(10000), 0);
        /* in force while both hogs still spin (they stop at DEADLINE_NS at the latest) */
        ck_assert_uint_eq(ap_rt_procs(), 1);
        atomic_store(&stop, true);
        for (int i = 0; i < 2; i++)
                autoprocs_task_join(h[i]);
        ap_rt_stop();
}
END_TEST

int main(void)
{
        Suite *s = suite_create("runtime-hog");
        TCase *tc = tcase_create("hog");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_every_call_is_a_scheduling_point);
        tcase_add_test(tc, test_checkpoint_never_reported);
        tcase_add_test(tc, test_wall_time_is_no_hog);
        tcase_add_test(tc, test_spin_reported_once);
        tcase_add_test(tc, test_handoff_runs_queued_work);
        tcase_add_test(tc, test_handoff_bounded);
        tcase_add_test(tc, test_shrink_past_hogs);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
