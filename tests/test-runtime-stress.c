/* SPDX-License-Identifier: MIT */
/*
 * Stress test of the runtime: at least 10^6 tasks mixing yields, sleeps, channel traffic
 * (unbuffered hand-offs and a buffered channel), a contended mutex and blocking calls, while
 * another thread resizes the runtime between 1 and 2x the host CPUs every millisecond.  Rounds
 * of 10^6 tasks repeat until the run has lasted 2 s.  Checks that every task ran exactly once per round and
 * that the final statistics add up.  Under ThreadSanitizer a round is 10^5 tasks (and it says
 * so), to stay well within two minutes.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/runtime/fiber.h"
#include "lib/runtime/runtime.h"
#include "lib/util/macro.h"
#include "tests/ap-test.h"

#if AP_TSAN
#define N_TASKS 100000u
#else
#define N_TASKS 1000000u
#endif
#define N_SPAWNERS 4u
#define MIN_RUN_NS 2000000000ull
#define BATCH 2000u

/* Check's ck_assert_* write a location record to a pipe on every call in fork mode; inside a
 * million tasks that would dominate the run, so tasks only report failures. */
#define REQUIRE(cond)                                                           \
        do {                                                                    \
                if (AP_UNLIKELY(!(cond)))                                       \
                        ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);    \
        } while (0)

static _Atomic uint8_t *done;
static _Atomic uint64_t children, chan_sum, bufchan_items;
static autoprocs_chan *bufchan;
static autoprocs_mutex *mu;
static uint64_t mu_count; /* under mu */
static _Atomic bool resizer_stop;
static bool paced;              /* the resizer also changes the pacing limit (pace.c) */
static _Atomic uint64_t resizes, set_ns, sleep_ns;
static unsigned host_cpus;

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mark(uint32_t i)
{
        uint8_t prev = atomic_fetch_add(&done[i], 1);

        if (prev != 0)
                ck_abort_msg("task %u ran twice", i);
}

typedef struct ChildArg {
        autoprocs_chan *c;
        uint64_t v;
} ChildArg;

static void chan_child(void *arg)
{
        ChildArg *a = arg;

        atomic_fetch_add(&children, 1);
        REQUIRE(autoprocs_chan_send(a->c, &a->v) == 0);
}

static void work(void *arg)
{
        uint32_t i = (uint32_t)(uintptr_t)arg;

        switch (i % 8) {
        case 0:
        case 1:
                for (int k = 0; k < 3; k++)
                        autoprocs_yield();
                break;
        case 2:
                autoprocs_sleep_ns((i % 5) * 20000u);
                break;
        case 3: { /* unbuffered hand-off with a child task */
                autoprocs_chan *c;
                ChildArg a = { .v = i };
                autoprocs_task *t;
                uint64_t v = 0;

                REQUIRE(autoprocs_chan_new(sizeof(uint64_t), 0, &c) == 0);
                a.c = c;
                REQUIRE(autoprocs_spawn(chan_child, &a, &t) == 0);
                REQUIRE(autoprocs_chan_recv(c, &v) == 0);
                REQUIRE(v == i);
                REQUIRE(autoprocs_task_join(t) == 0);
                autoprocs_chan_free(c);
                atomic_fetch_add(&chan_sum, v);
                break;
        }
        case 4: { /* buffered channel shared by everybody: put one, take one */
                uint64_t v = i;

                REQUIRE(autoprocs_chan_send(bufchan, &v) == 0);
                REQUIRE(autoprocs_chan_recv(bufchan, &v) == 0);
                atomic_fetch_add(&bufchan_items, 1);
                break;
        }
        case 5: /* a blocking call; now and then a long one, for the monitor to retake */
                autoprocs_block_begin();
                if (i % 512 == 5) {
                        struct timespec ts = { .tv_nsec = 200000 };

                        nanosleep(&ts, NULL);
                } else {
                        (void)getppid();
                }
                autoprocs_block_end();
                break;
        case 6: /* a mutex shared by everybody */
                autoprocs_mutex_lock(mu);
                mu_count++;
                if (i % 64 == 6)
                        autoprocs_yield(); /* held across a switch now and then */
                autoprocs_mutex_unlock(mu);
                break;
        default:
                autoprocs_checkpoint();
                break;
        }
        mark(i);
}

typedef struct SpawnerArg {
        uint32_t lo, hi;
} SpawnerArg;

static void spawner(void *arg)
{
        SpawnerArg *a = arg;
        autoprocs_task *t[BATCH];

        for (uint32_t i = a->lo; i < a->hi; i += BATCH) {
                uint32_t n = AP_MIN(BATCH, a->hi - i);

                /* joinable and detached tasks, joined/waited in batches to bound memory */
                for (uint32_t j = 0; j < n; j++)
                        REQUIRE(autoprocs_spawn(work, (void *)(uintptr_t)(i + j), &t[j]) == 0);
                for (uint32_t j = 0; j < n; j++)
                        REQUIRE(autoprocs_task_join(t[j]) == 0);
        }
}

static void *resizer(void *arg)
{
        uint64_t seed = 88172645463325252ull;

        (void)arg;
        while (!atomic_load(&resizer_stop)) {
                struct timespec ts = { .tv_nsec = 1000000 };
                unsigned n;
                uint64_t t0 = now_ns(), t1;

                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                n = 1 + (unsigned)(seed % (2 * host_cpus));
                REQUIRE(ap_rt_set_procs(n) == 0);
                if (paced && seed % 7 == 0) {
                        /* off, 1.5 CPUs at a 10 ms or a 100 ms period, 0.9 CPU: under the
                         * load (no lower limit: the TSan run must finish in its time) */
                        static const uint64_t q[][2] = { { 0, 0 }, { 15000000, 10000000 },
                                                         { 150000000, 100000000 },
                                                         { 90000000, 100000000 } };
                        const uint64_t *l = q[(seed >> 8) % 4];

                        REQUIRE(ap_rt_pace_set(l[0], l[1]) == 0);
                }
                t1 = now_ns();
                atomic_fetch_add(&set_ns, t1 - t0);
                atomic_fetch_add(&resizes, 1);
                nanosleep(&ts, NULL);
                atomic_fetch_add(&sleep_ns, now_ns() - t1);
        }
        return NULL;
}

static void stress(void)
{
        ApRtOptions o = { .procs = 0 };
        SpawnerArg sa[N_SPAWNERS];
        autoprocs_task *sp[N_SPAWNERS];
        autoprocs_stats s;
        pthread_t rs;
        uint64_t t0 = now_ns(), alive_wait;
        unsigned rounds = 0;
        cpu_set_t set;

        CPU_ZERO(&set);
        host_cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 2;
        o.procs = host_cpus;
        if (AP_TSAN)
                printf("stress: ThreadSanitizer build, %u tasks instead of 10^6\n", N_TASKS);
        done = calloc(N_TASKS, 1);
        ck_assert_ptr_nonnull(done);
        ck_assert_int_eq(ap_rt_start(&o), 0);
        if (paced)
                ck_assert_int_eq(ap_rt_pace_set(150000000, 100000000), 0);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(uint64_t), 64, &bufchan), 0);
        ck_assert_int_eq(autoprocs_mutex_new(&mu), 0);
        ck_assert_int_eq(pthread_create(&rs, NULL, resizer, NULL), 0);
        /* rounds of N_TASKS until the run has lasted MIN_RUN_NS, so that hundreds of resizes
         * happen under the load however fast the machine is */
        do {
                uint64_t sum0 = atomic_load(&chan_sum), items0 = atomic_load(&bufchan_items);
                uint64_t children0 = atomic_load(&children), expect_sum = 0;

                memset((void *)done, 0, N_TASKS);
                for (uint32_t k = 0; k < N_SPAWNERS; k++) {
                        sa[k] = (SpawnerArg){ .lo = k * (N_TASKS / N_SPAWNERS),
                                              .hi = (k + 1) * (N_TASKS / N_SPAWNERS) };
                        ck_assert_int_eq(autoprocs_spawn(spawner, &sa[k], &sp[k]), 0);
                }
                for (uint32_t k = 0; k < N_SPAWNERS; k++)
                        ck_assert_int_eq(autoprocs_task_join(sp[k]), 0);
                rounds++;
                for (uint32_t i = 0; i < N_TASKS; i++) {
                        if (atomic_load(&done[i]) != 1)
                                ck_abort_msg("round %u: task %u ran %u times", rounds, i,
                                             (unsigned)atomic_load(&done[i]));
                        if (i % 8 == 3)
                                expect_sum += i;
                }
                ck_assert_uint_eq(atomic_load(&chan_sum) - sum0, expect_sum);
                ck_assert_uint_eq(atomic_load(&bufchan_items) - items0, N_TASKS / 8);
                ck_assert_uint_eq(atomic_load(&children) - children0, N_TASKS / 8);
                ck_assert_uint_eq(mu_count, (uint64_t)rounds * (N_TASKS / 8));
        } while (now_ns() - t0 < MIN_RUN_NS && rounds < 20);
        atomic_store(&resizer_stop, true);
        pthread_join(rs, NULL);

        /* the last exits may still be in flight for a moment after the joins */
        alive_wait = now_ns();
        do {
                ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        } while (s.tasks_alive != 0 && now_ns() - alive_wait < 5000000000ull);
        ck_assert_uint_eq(s.tasks_alive, 0);
        ck_assert_uint_eq(s.tasks_spawned,
                          (uint64_t)rounds * (N_TASKS + N_SPAWNERS) + atomic_load(&children));
        ck_assert_uint_ge(s.context_switches, s.tasks_spawned);
        ck_assert_uint_ge(s.resizes_up + s.resizes_down, 1);
        ck_assert_uint_le(s.procs, 2 * host_cpus);
        if (paced)
                printf("stress: paced: %llu hold-backs (%llu by the signal), %.1f ms held\n",
                       (unsigned long long)s.pace_holds, (unsigned long long)s.pace_signal_holds,
                       (double)s.pace_held_ns / 1e6);
        printf("stress: %u rounds of %u tasks + %llu children in %.2f s, %llu resize requests (%llu up, %llu down), "
               "%llu switches, %llu steals, %llu hand-offs, %u threads, %llu+%llu stacks "
               "(guarded+unguarded)\n",
               rounds, N_TASKS, (unsigned long long)atomic_load(&children),
               (double)(now_ns() - t0) / 1e9, (unsigned long long)atomic_load(&resizes),
               (unsigned long long)s.resizes_up, (unsigned long long)s.resizes_down,
               (unsigned long long)s.context_switches, (unsigned long long)s.steals,
               (unsigned long long)s.handoffs, s.threads, (unsigned long long)s.stacks_guarded,
               (unsigned long long)s.stacks_unguarded);
        printf("stress: resizer: ap_rt_set_procs %.1f us, a 1 ms nanosleep took %.2f ms on average\n",
               (double)atomic_load(&set_ns) / 1e3 / (double)atomic_load(&resizes),
               (double)atomic_load(&sleep_ns) / 1e6 / (double)atomic_load(&resizes));
        ck_assert_int_eq(ap_rt_set_procs(1), 0);
        ck_assert_int_eq(ap_rt_wait_procs(10000), 0);
        ck_assert_uint_eq(ap_rt_procs(), 1);
        ap_rt_stop();
        autoprocs_chan_free(bufchan);
        autoprocs_mutex_free(mu);
        free(done);
}

START_TEST(test_stress)
{
        stress();
}
END_TEST

/* The same with pacing on and its limit changing under the load: no task lost or run twice,
 * no deadlock between the hold-back and the runtime's locks. */
START_TEST(test_stress_paced)
{
        paced = true;
        stress();
}
END_TEST

int main(void)
{
        Suite *s = suite_create("runtime-stress");
        TCase *tc = tcase_create("stress");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_stress);
        tcase_add_test(tc, test_stress_paced);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
