/* SPDX-License-Identifier: MIT */
/*
 * Fractional pacing: the controller on a simulated clock (lib/runtime/pace-ctl.c: no period of
 * any phase gets more than its quota, the share it leaves, back-off and climb, a live limit
 * change, other threads' CPU) and the runtime side on real threads (pace.c: a task with no
 * scheduling point is held back by the CPU-clock signal; never while it holds a runtime lock,
 * and at once when it lets go).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "ap-test.h"
#include "lib/runtime/fiber.h"
#include "lib/runtime/internal.h"
#include "lib/runtime/pace-ctl.h"
#include "lib/runtime/pace.h"

#define MS 1000000ull
#define US 1000ull
#define STEP_NS (10 * US)

/* ---- the controller on a simulated clock ---------------------------------------------------- */

typedef struct Sim {
        uint64_t quota_ns, period_ns, seconds_ns;
        unsigned procs;
        double others_cpu;              /* CPU burnt outside the workers (not charged) */
        uint64_t *used;                 /* per STEP_NS: worker + others CPU ns */
        size_t nsteps;
        uint64_t worker_total, others_total;
} Sim;

/* nprocs greedy workers (always runnable), each charging every check_ns of its own CPU as
 * pace.c does, pausing as told; "others" burn their share evenly and are reported to the
 * controller every 20 ms as pace.c samples them. */
static void simulate(Sim *s)
{
        ApPaceCtl c;
        uint64_t since[8] = { 0 }, pause_until[8] = { 0 }, others_acc = 0, others_since = 0;
        double others_carry = 0;

        ck_assert_uint_le(s->procs, 8);
        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, s->quota_ns, s->period_ns, 0);
        s->nsteps = s->seconds_ns / STEP_NS;
        s->used = calloc(s->nsteps, sizeof(uint64_t));
        ck_assert_ptr_nonnull(s->used);
        for (size_t i = 0; i < s->nsteps; i++) {
                uint64_t now = i * STEP_NS, o;

                for (unsigned p = 0; p < s->procs; p++) {
                        if (now < pause_until[p])
                                continue;
                        s->used[i] += STEP_NS;
                        s->worker_total += STEP_NS;
                        since[p] += STEP_NS;
                        if (since[p] >= c.check_ns) {
                                uint64_t pause = ap_pace_ctl_charge(&c, now + STEP_NS, since[p]);

                                since[p] = 0;
                                if (pause > 0)
                                        pause_until[p] = now + STEP_NS + pause;
                        }
                }
                others_carry += s->others_cpu * (double)STEP_NS;
                o = (uint64_t)others_carry;
                others_carry -= (double)o;
                s->used[i] += o;
                s->others_total += o;
                others_acc += o;
                if (now + STEP_NS - others_since >= 20 * MS) {
                        ap_pace_ctl_others(&c, (int64_t)others_acc, now + STEP_NS - others_since);
                        others_acc = 0;
                        others_since = now + STEP_NS;
                }
        }
}

/* The most CPU any window of one period (any phase, at the simulation's grain) got. */
static uint64_t max_window(const Sim *s)
{
        size_t w = s->period_ns / STEP_NS;
        uint64_t sum = 0, best = 0;

        for (size_t i = 0; i < s->nsteps; i++) {
                sum += s->used[i];
                if (i >= w)
                        sum -= s->used[i - w];
                if (i + 1 >= w && sum > best)
                        best = sum;
        }
        return best;
}

static void check_sim(double cpus, uint64_t period_ns, unsigned procs, double others,
                      double min_share)
{
        Sim s = {
                .quota_ns = (uint64_t)(cpus * (double)period_ns),
                .period_ns = period_ns,
                .seconds_ns = 3000 * MS,
                .procs = procs,
                .others_cpu = others,
        };
        double got;

        simulate(&s);
        /* after the first second (the others' EWMA has settled), no period is over quota */
        {
                Sim tail = s;

                tail.used = s.used + (1000 * MS) / STEP_NS;
                tail.nsteps = s.nsteps - (1000 * MS) / STEP_NS;
                ck_assert_msg(max_window(&tail) <= s.quota_ns,
                              "Q=%.2f period %llu ms procs %u others %.2f: a period got %llu ns > "
                              "quota %llu", cpus, (unsigned long long)(period_ns / MS), procs,
                              others, (unsigned long long)max_window(&tail),
                              (unsigned long long)s.quota_ns);
        }
        got = (double)(s.worker_total + s.others_total) / (double)s.seconds_ns;
        ck_assert_msg(got >= min_share * cpus,
                      "Q=%.2f period %llu ms procs %u: used %.3f CPUs, below %.0f %% of the quota",
                      cpus, (unsigned long long)(period_ns / MS), procs, got, min_share * 100);
        free(s.used);
}

START_TEST(test_ctl_off)
{
        ApPaceCtl c;

        ap_pace_ctl_init(&c);
        ck_assert(!ap_pace_ctl_on(&c));
        ck_assert_uint_eq(ap_pace_ctl_charge(&c, 1000, 1000000000), 0);
        ap_pace_ctl_set_limit(&c, 50 * MS, 100 * MS, 0);
        ck_assert(ap_pace_ctl_on(&c));
        ap_pace_ctl_set_limit(&c, 0, 0, 0);
        ck_assert(!ap_pace_ctl_on(&c));
        ck_assert_uint_eq(ap_pace_ctl_charge(&c, 2000, 1000000000), 0);
}
END_TEST

START_TEST(test_ctl_derived)
{
        ApPaceCtl c;

        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, 50 * MS, 100 * MS, 0);
        ck_assert_uint_eq(c.limit_ppm, 500000);
        ck_assert_uint_eq(c.headroom_ppm, AP_PACE_HEADROOM_PPM);
        ck_assert_uint_eq(c.depth_ns, 1250 * US);
        ck_assert_uint_eq(c.rate_ppm, 475000);
        ck_assert_uint_eq(c.check_ns, c.depth_ns / 4);
        /* a short period: the depth is held at its minimum and the headroom grows to match */
        ap_pace_ctl_set_limit(&c, 5 * MS, 10 * MS, 0);
        ck_assert_uint_eq(c.depth_ns, AP_PACE_DEPTH_MIN_NS);
        ck_assert_uint_eq(c.headroom_ppm, 80000);
        /* a long one: the depth is capped */
        ap_pace_ctl_set_limit(&c, 500 * MS, 1000 * MS, 0);
        ck_assert_uint_eq(c.depth_ns, AP_PACE_DEPTH_MAX_NS);
}
END_TEST

START_TEST(test_ctl_bucket)
{
        ApPaceCtl c;
        uint64_t pause;

        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, 50 * MS, 100 * MS, 0);
        /* starts full: a charge within the depth runs on */
        ck_assert_uint_eq(ap_pace_ctl_charge(&c, 0, 1 * MS), 0);
        /* 1 ms more empties it by 0.75 ms: pause until half full (0.625 ms) at 0.475 CPU */
        pause = ap_pace_ctl_charge(&c, 0, 1 * MS);
        ck_assert_uint_eq(pause, (uint64_t)((750 + 625) * US * 1000000ull / 475000) + 1);
        /* not yet refilled half way: still paused; then free again */
        ck_assert_uint_gt(ap_pace_ctl_wait(&c, pause / 2), 0);
        ck_assert_uint_eq(ap_pace_ctl_wait(&c, pause), 0);
        /* refill never exceeds the depth */
        ck_assert_uint_eq(ap_pace_ctl_wait(&c, 10000 * MS), 0);
        ck_assert_int_eq(c.tokens_ns, (int64_t)c.depth_ns);
}
END_TEST

/* The guarantee of pace-ctl.h, at each quota and period of the benchmark, one and two
 * processors: no period of any phase over quota, and the quota used. */
START_TEST(test_ctl_no_period_over_quota)
{
        check_sim(0.5, 100 * MS, 2, 0, 0.93);
        check_sim(0.5, 100 * MS, 1, 0, 0.93);
        check_sim(0.3, 100 * MS, 1, 0, 0.93);
        check_sim(1.2, 100 * MS, 2, 0, 0.93);
        check_sim(1.5, 100 * MS, 2, 0, 0.93);
        check_sim(0.5, 1000 * MS, 2, 0, 0.93);
        check_sim(0.1, 100 * MS, 1, 0, 0.90);
        /* a 10 ms period needs more headroom (the depth minimum): 90 % */
        check_sim(0.5, 10 * MS, 2, 0, 0.90);
}
END_TEST

/* A thread outside the workers burning 0.2 CPU: the workers' share shrinks, periods stay under. */
START_TEST(test_ctl_others)
{
        ApPaceCtl c;

        check_sim(0.5, 100 * MS, 2, 0.2, 0.90);
        check_sim(1.5, 100 * MS, 2, 0.2, 0.90);
        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, 150 * MS, 100 * MS, 0);
        for (int i = 0; i < 40; i++)
                ap_pace_ctl_others(&c, 4 * MS, 20 * MS); /* 0.2 CPU */
        ck_assert_uint_le(c.rate_ppm, 1425000 - 190000);
        ck_assert_uint_ge(c.rate_ppm, 1425000 - 210000);
        /* a charge that lagged (negative sample) evens out instead of sticking */
        ap_pace_ctl_others(&c, -4 * (int64_t)MS, 20 * MS);
        ck_assert_uint_lt(c.others_ppm, 200000);
}
END_TEST

START_TEST(test_ctl_backoff_and_climb)
{
        ApPaceCtl c;
        uint64_t r0, r1;

        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, 50 * MS, 100 * MS, 0);
        r0 = c.rate_ppm;
        ap_pace_ctl_feedback(&c, 10, 2); /* the kernel still throttled: back off */
        ck_assert_uint_eq(c.factor_ppm, AP_PACE_PPM - 2 * AP_PACE_BACKOFF_PPM);
        ck_assert_uint_lt(c.rate_ppm, r0);
        for (int i = 0; i < 50; i++)
                ap_pace_ctl_feedback(&c, 10, 10);
        ck_assert_uint_eq(c.factor_ppm, AP_PACE_FACTOR_MIN_PPM); /* bounded */
        r1 = c.rate_ppm;
        /* calm ticks: nothing for AP_PACE_CALM_TICKS - 1, then a climb each tick */
        for (unsigned i = 0; i + 1 < AP_PACE_CALM_TICKS; i++)
                ap_pace_ctl_feedback(&c, 10, 0);
        ck_assert_uint_eq(c.rate_ppm, r1);
        ap_pace_ctl_feedback(&c, 10, 0);
        ck_assert_uint_gt(c.rate_ppm, r1);
        for (int i = 0; i < 1000; i++)
                ap_pace_ctl_feedback(&c, 10, 0);
        ck_assert_uint_eq(c.factor_ppm, AP_PACE_PPM);
        ck_assert_uint_eq(c.rate_ppm, r0);
        /* no periods elapsed: no information */
        ap_pace_ctl_feedback(&c, 0, 0);
        ck_assert_uint_eq(c.factor_ppm, AP_PACE_PPM);
}
END_TEST

START_TEST(test_ctl_follows_limit)
{
        ApPaceCtl c;

        ap_pace_ctl_init(&c);
        ap_pace_ctl_set_limit(&c, 150 * MS, 100 * MS, 0);
        ck_assert_uint_eq(c.rate_ppm, 1425000);
        ck_assert_int_eq(c.tokens_ns, (int64_t)c.depth_ns);
        /* down to 0.5: the rate follows at once and the bucket is clamped to the new depth */
        ap_pace_ctl_set_limit(&c, 50 * MS, 100 * MS, 5 * MS);
        ck_assert_uint_eq(c.rate_ppm, 475000);
        ck_assert_int_le(c.tokens_ns, (int64_t)c.depth_ns);
        /* a period change at the same share changes the depth, not the rate */
        ap_pace_ctl_set_limit(&c, 5 * MS, 10 * MS, 6 * MS);
        ck_assert_uint_eq(c.limit_ppm, 500000);
        ck_assert_uint_eq(c.depth_ns, AP_PACE_DEPTH_MIN_NS);
}
END_TEST

/* ---- the runtime side: the hold-back signal and its lock deferral --------------------------- */

static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void burn_cpu(uint64_t ns)
{
        uint64_t t0 = thread_cpu_ns();
        volatile uint64_t x = 1;

        while (thread_cpu_ns() - t0 < ns)
                for (int i = 0; i < 1000; i++)
                        x = x * 6364136223846793005ull + 1;
}

typedef struct LockedRun {
        uint64_t held_before, held_locked, held_after;
        uint64_t signal_holds_before, signal_holds_locked, signal_holds_after;
} LockedRun;

static ApSpin test_lock;

/* A task that reaches no scheduling point: 60 ms of CPU while holding a runtime lock, then the
 * same without; the bucket (0.1 CPU) is empty after 0.25 ms. */
static void locked_task(void *arg)
{
        LockedRun *r = arg;

        ap_spin_lock(&test_lock);
        r->held_before = atomic_load(&ap_pace.held_ns);
        r->signal_holds_before = atomic_load(&ap_pace.signal_holds);
        burn_cpu(60 * MS);
        r->held_locked = atomic_load(&ap_pace.held_ns);
        r->signal_holds_locked = atomic_load(&ap_pace.signal_holds);
        ap_spin_unlock(&test_lock); /* the deferred hold-back runs here */
        r->held_after = atomic_load(&ap_pace.held_ns);
        burn_cpu(60 * MS);
        r->signal_holds_after = atomic_load(&ap_pace.signal_holds);
}

START_TEST(test_signal_holds_back_but_not_under_a_lock)
{
        ApRtOptions o = { .procs = 1 };
        autoprocs_task *t;
        LockedRun r = { 0 };

        ck_assert_int_eq(ap_rt_start(&o), 0);
        ck_assert_int_eq(ap_rt_pace_set(10 * MS, 100 * MS), 0);
        ck_assert_int_eq(autoprocs_spawn(locked_task, &r, &t), 0);
        ck_assert_int_eq(autoprocs_task_join(t), 0);
        /* under the lock: no hold-back at all */
        ck_assert_uint_eq(r.held_locked, r.held_before);
        ck_assert_uint_eq(r.signal_holds_locked, r.signal_holds_before);
        /* the unlock ran the deferred one: the 60 ms owed (one charge counts at most a period's
         * quota, 10 ms, at 0.095 CPU: about 107 ms) */
        ck_assert_uint_gt(r.held_after - r.held_locked, 50 * MS);
        /* without the lock, the signal holds the task back although it never yields */
        ck_assert_uint_gt(r.signal_holds_after, r.signal_holds_locked);
        ap_rt_stop();
}
END_TEST

static _Atomic bool sleeper_stop;

/* Wakes every millisecond: each wake-up ends a hold-back early (a sleeper keeps priority). */
static void sleeper_task(void *arg)
{
        (void)arg;
        while (!atomic_load(&sleeper_stop))
                autoprocs_sleep_ns(1 * MS);
}

/* CPU-bound, yielding after every 50 µs of CPU (throttle-load's worker). */
static void yielding_task(void *arg)
{
        (void)arg;
        while (!atomic_load(&sleeper_stop)) {
                burn_cpu(50000);
                autoprocs_yield();
        }
}

static uint64_t process_cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A sleeper's wake-up ends a hold early and runs on credit; the workers must then be held again
 * at their next scheduling point, not a check interval later.  At a 1 s period the check
 * interval is 1 ms, as long as the sleeper's: charged only a check interval later, the 4
 * yielding workers on 2 processors used 1.0 CPU against this 0.25 limit (throttle-load at 0.5
 * CPU and a 1 s period: throttled in 7 of 10 periods, the sleeper 1.2 s late).  Only an upper
 * bound: a loaded machine can only lower the CPU used.
 */
START_TEST(test_sleeper_wakeups_stay_paced)
{
        ApRtOptions o = { .procs = 2 };
        autoprocs_task *a, *b[4];
        uint64_t cpu0, t0, cpu, wall;

        ck_assert_int_eq(ap_rt_start(&o), 0);
        ck_assert_int_eq(ap_rt_pace_set(250 * MS, 1000 * MS), 0);
        atomic_store(&sleeper_stop, false);
        ck_assert_int_eq(autoprocs_spawn(sleeper_task, NULL, &a), 0);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(autoprocs_spawn(yielding_task, NULL, &b[i]), 0);
        cpu0 = process_cpu_ns();
        t0 = autoprocs_now_ns();
        usleep(1500000); /* the measured window, not a wait for a condition */
        cpu = process_cpu_ns() - cpu0;
        wall = autoprocs_now_ns() - t0;
        atomic_store(&sleeper_stop, true);
        ck_assert_int_eq(autoprocs_task_join(a), 0);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(autoprocs_task_join(b[i]), 0);
        ap_rt_stop();
        ck_assert_msg(cpu * 100 <= wall * 33, "paced to 0.25 CPU, used %.3f CPU over %.2f s",
                      (double)cpu / (double)wall, (double)wall / 1e9);
}
END_TEST

/* Off costs nothing: no timer, no hold-back, no signal handler taken. */
START_TEST(test_off_is_off)
{
        ApRtOptions o = { .procs = 1 };
        struct sigaction sa;
        autoprocs_stats s;

        ck_assert_int_eq(ap_rt_start(&o), 0);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.pacing, 0);
        ck_assert_int_eq(sigaction(SIGURG, NULL, &sa), 0);
        ck_assert(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL);
        ck_assert_int_eq(ap_rt_pace_set(50 * MS, 100 * MS), 0);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.pacing, 1);
        ck_assert_uint_eq(s.pace_limit_millicpus, 500);
        ck_assert_uint_eq(s.pace_share_millicpus, 475);
        ck_assert_int_eq(ap_rt_pace_set(0, 0), 0);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.pacing, 0);
        ck_assert_int_eq(ap_rt_pace_set(50 * MS, 100), -EINVAL); /* period below 1 ms */
        ap_rt_stop();
        ck_assert_int_eq(ap_rt_pace_set(50 * MS, 100 * MS), -ESRCH);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("pace");
        TCase *tc = tcase_create("pace");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_ctl_off);
        tcase_add_test(tc, test_ctl_derived);
        tcase_add_test(tc, test_ctl_bucket);
        tcase_add_test(tc, test_ctl_no_period_over_quota);
        tcase_add_test(tc, test_ctl_others);
        tcase_add_test(tc, test_ctl_backoff_and_climb);
        tcase_add_test(tc, test_ctl_follows_limit);
        /* TSan delivers asynchronous signals only at its next interceptor: the timing under test
         * is not the real one there, so the case is not built into the TSan run at all. */
        if (!AP_TSAN)
                tcase_add_test(tc, test_signal_holds_back_but_not_under_a_lock);
        tcase_add_test(tc, test_sleeper_wakeups_stay_paced);
        tcase_add_test(tc, test_off_is_off);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
