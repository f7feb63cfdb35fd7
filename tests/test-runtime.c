/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the M:N runtime (lib/runtime/): the context switch, stacks and overflow
 * detection, run queues, spawn/join, yield, sleep, channels, wait groups, mutexes, blocking
 * regions, hog detection and live resizing.  Each test runs in its own forked process.
 */
#include <fenv.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/runtime/arch.h"
#include "lib/runtime/fiber.h"
#include "lib/runtime/internal.h"
#include "lib/runtime/runq.h"
#include "lib/runtime/valgrind.h"
#include "tests/ap-test.h"

static void start(unsigned procs)
{
        ApRtOptions o = { .procs = procs };

        ck_assert_int_eq(ap_rt_start(&o), 0);
}

static void stop_checked(void)
{
        autoprocs_stats s;

        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ap_rt_stop();
        ck_assert(!ap_rt_running());
}

/* ---- switch ---------------------------------------------------------------------------------- */

static void *sw_main_sp, *sw_task_sp;

static void sw_entry(void *arg)
{
        int *count = arg;

        for (;;) {
                (*count)++;
                /* change the rounding mode here; the other side must not see it */
                fesetround(FE_UPWARD);
                ap_arch_switch(&sw_task_sp, sw_main_sp);
        }
}

START_TEST(test_switch)
{
        static char stack[64 * 1024] __attribute__((aligned(16)));
        int count = 0;

        fesetround(FE_TONEAREST);
        sw_task_sp = ap_arch_frame_init(stack + sizeof(stack), sw_entry, &count);
        for (int i = 0; i < 1000; i++) {
                ap_arch_switch(&sw_main_sp, sw_task_sp);
                ck_assert_int_eq(count, i + 1);
                ck_assert_int_eq(fegetround(), FE_TONEAREST);
        }
}
END_TEST

/* ---- stacks ---------------------------------------------------------------------------------- */

START_TEST(test_stack_pool)
{
        ApP *p = ap_p_new(0);
        ApStack *a, *b, *c;
        uint64_t gd, ug;

        ck_assert_int_eq(ap_stack_init(64 * 1024, AP_STACK_GUARD_AUTO), 0);
        a = ap_stack_get(p);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_ge(ap_stack_usable(a), 60 * 1024);
        memset(ap_stack_lo(a), 0xaa, ap_stack_usable(a)); /* lazily committed but writable */
        ap_stack_put(p, a);
        b = ap_stack_get(p);
        ck_assert_ptr_eq(a, b); /* LIFO reuse, no new mapping */
        c = ap_stack_get(NULL);
        ck_assert_ptr_ne(b, c);
        ap_stack_counts(&gd, &ug);
        ck_assert_uint_eq(gd + ug >= 2, 1);
        ap_stack_put(p, b);
        ap_stack_put(NULL, c);
        ap_stack_flush(p);
        ap_stack_fini();
        free(p);
}
END_TEST

static int recurse(int n)
{
        volatile char buf[512];

        buf[0] = (char)n;
        buf[511] = (char)n;
        return n <= 0 ? buf[0] : recurse(n - 1) + buf[511];
}

static void overflow_task(void *arg)
{
        (void)arg;
        (void)recurse(1 << 20);
}

static void start_guarded(unsigned procs, int guard)
{
        ApRtOptions o = { .procs = procs, .stack_guard = guard };

        ck_assert_int_eq(ap_rt_start(&o), 0);
}

/* Run an overflowing task in a child; return what it wrote to stderr and its wait status. */
static void overflow_child(int guard, char *out, size_t outlen, int *ret_status)
{
        int pfd[2];
        pid_t pid;
        ssize_t n, total = 0;

        ck_assert_int_eq(pipe(pfd), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                autoprocs_task *t;

                dup2(pfd[1], STDERR_FILENO);
                start_guarded(1, guard);
                autoprocs_spawn(overflow_task, NULL, &t);
                autoprocs_task_join(t);
                _exit(0);
        }
        close(pfd[1]);
        while ((n = read(pfd[0], out + total, outlen - 1 - (size_t)total)) > 0)
                total += n;
        out[total] = '\0';
        close(pfd[0]);
        ck_assert_int_eq(waitpid(pid, ret_status, 0), pid);
}

START_TEST(test_stack_overflow_guard)
{
        char out[4096];
        int status;

        overflow_child(AP_STACK_GUARD_ALWAYS, out, sizeof(out), &status);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %x", status);
        ck_assert_msg(strstr(out, "overflowed its 64 KiB stack") != NULL, "stderr: %s", out);
        ck_assert_msg(strstr(out, "task ") != NULL, "stderr: %s", out);
}
END_TEST

static volatile char sink;

static void deep_then_switch(void *arg)
{
        volatile char buf[80 * 1024];

        (void)arg;
        /* runs below the stack's low end into the slab neighbour, then switches out */
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = 1;
        autoprocs_sleep_ns(1000);
        sink = buf[100]; /* keeps the frame live across the switch (no tail call) */
}

START_TEST(test_stack_overflow_unguarded)
{
        int pfd[2], status;
        pid_t pid;
        char out[4096];
        ssize_t n, total = 0;

        ck_assert_int_eq(pipe(pfd), 0);
        pid = fork();
        if (pid == 0) {
                autoprocs_task *t;

                dup2(pfd[1], STDERR_FILENO);
                start_guarded(1, AP_STACK_GUARD_NEVER);
                autoprocs_spawn(deep_then_switch, NULL, &t);
                autoprocs_task_join(t);
                _exit(0);
        }
        close(pfd[1]);
        while ((n = read(pfd[0], out + total, sizeof(out) - 1 - (size_t)total)) > 0)
                total += n;
        out[total] = '\0';
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "status %x", status);
        ck_assert_msg(strstr(out, "overflowed its 64 KiB stack") != NULL, "stderr: %s", out);
}
END_TEST

/* ---- run queue ------------------------------------------------------------------------------- */

START_TEST(test_runq)
{
        ApP *p = ap_p_new(0), *thief = ap_p_new(1);
        ApG g[400];
        ApG *batch[AP_RT_RING];
        uint32_t n, got = 0;
        bool seen[400] = { 0 };

        atomic_store(&ap_sched.nprocs, 2);
        for (int i = 0; i < 10; i++)
                ap_runq_put(p, &g[i], false);
        ck_assert_ptr_eq(ap_runq_get(p), &g[0]); /* FIFO */
        ap_runq_put(p, &g[10], true);
        ck_assert_ptr_eq(ap_runq_get(p), &g[10]); /* runnext first */
        n = ap_runq_grab(p, batch, false);
        ck_assert_uint_eq(n, 5); /* half of 9, rounded up */
        for (uint32_t i = 0; i < n; i++)
                ck_assert_ptr_eq(batch[i], &g[1 + i]);
        while (ap_runq_get(p))
                ;
        ck_assert(ap_runq_empty(p));
        /* overflow: 400 pushes into a 256 ring spill half to the global queue */
        for (int i = 0; i < 400; i++)
                ap_runq_put(p, &g[i], false);
        ck_assert_uint_gt(atomic_load(&ap_sched.gq_size), 0);
        while (got < 400) {
                ApG *x = ap_runq_get(p);

                if (!x)
                        x = ap_gq_get(p, 1);
                ck_assert_ptr_nonnull(x);
                ck_assert(!seen[x - g]);
                seen[x - g] = true;
                got++;
        }
        ck_assert_ptr_null(ap_runq_get(p));
        ck_assert_ptr_null(ap_gq_get(p, 1));
        /* runnext is stealable on request only */
        ap_runq_put(p, &g[0], true);
        ck_assert_uint_eq(ap_runq_grab(p, batch, false), 0);
        ck_assert_uint_eq(ap_runq_grab(p, batch, true), 1);
        ck_assert_ptr_eq(batch[0], &g[0]);
        free(p);
        free(thief);
}
END_TEST

#define RQ_N 200000
static ApG rq_items[RQ_N];
static _Atomic uint8_t rq_seen[RQ_N];
static ApP *rq_p;
static _Atomic bool rq_done;

static void rq_take(ApG *g)
{
        if (atomic_fetch_add(&rq_seen[g - rq_items], 1) != 0)
                ck_abort_msg("item %d taken twice", (int)(g - rq_items));
}

static void *rq_thief(void *arg)
{
        ApG *batch[AP_RT_RING];

        (void)arg;
        while (!atomic_load(&rq_done) || !ap_runq_empty(rq_p)) {
                uint32_t n = ap_runq_grab(rq_p, batch, true);

                for (uint32_t i = 0; i < n; i++)
                        rq_take(batch[i]);
        }
        return NULL;
}

START_TEST(test_runq_concurrent)
{
        pthread_t th[2];
        ApG *g;

        rq_p = ap_p_new(0);
        atomic_store(&ap_sched.nprocs, 1);
        for (int i = 0; i < 2; i++)
                ck_assert_int_eq(pthread_create(&th[i], NULL, rq_thief, NULL), 0);
        /* the owner pushes (runnext too) and pops while two thieves steal */
        for (int i = 0; i < RQ_N; i++) {
                ap_runq_put(rq_p, &rq_items[i], i % 7 == 0);
                if (i % 3 == 0 && (g = ap_runq_get(rq_p)))
                        rq_take(g);
        }
        atomic_store(&rq_done, true);
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        while ((g = ap_runq_get(rq_p)))
                rq_take(g);
        while ((g = ap_gq_get(NULL, 1)))
                rq_take(g);
        for (int i = 0; i < RQ_N; i++)
                ck_assert_msg(atomic_load(&rq_seen[i]) == 1, "item %d taken %d times", i,
                              atomic_load(&rq_seen[i]));
        free(rq_p);
}
END_TEST

/* ---- spawn / join ---------------------------------------------------------------------------- */

static _Atomic long counter;

static void incr(void *arg)
{
        (void)arg;
        atomic_fetch_add(&counter, 1);
}

static void spawner(void *arg)
{
        long n = (long)(intptr_t)arg;
        autoprocs_task *t[64];

        for (long i = 0; i < n; i += 64) {
                for (int j = 0; j < 64; j++)
                        ck_assert_int_eq(autoprocs_spawn(incr, NULL, &t[j]), 0);
                for (int j = 0; j < 64; j++)
                        ck_assert_int_eq(autoprocs_task_join(t[j]), 0);
        }
}

START_TEST(test_spawn_join)
{
        autoprocs_task *t;
        autoprocs_stats s;

        ck_assert_int_eq(autoprocs_spawn(incr, NULL, NULL), -ESRCH);
        start(2);
        ck_assert(!autoprocs_in_task());
        for (int i = 0; i < 1000; i++) {
                ck_assert_int_eq(autoprocs_spawn(incr, NULL, &t), 0);
                ck_assert_int_eq(autoprocs_task_join(t), 0);
        }
        ck_assert_int_eq(autoprocs_spawn(spawner, (void *)(intptr_t)64000, &t), 0);
        ck_assert_int_eq(autoprocs_task_join(t), 0);
        for (int i = 0; i < 1000; i++)
                ck_assert_int_eq(autoprocs_spawn(incr, NULL, NULL), 0);
        ck_assert_int_eq(autoprocs_spawn(NULL, NULL, NULL), -EINVAL);
        ck_assert_int_eq(autoprocs_task_join(NULL), -EINVAL);
        while (atomic_load(&counter) < 66000)
                usleep(1000);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.tasks_spawned, 66001);
        ck_assert_uint_ge(s.context_switches, 66001);
        ap_rt_stop();
        ck_assert_int_eq(atomic_load(&counter), 66000);
}
END_TEST

static long rss_kib(void)
{
        long pages = 0, res = 0;
        FILE *f = fopen("/proc/self/statm", "re");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &res), 2);
        fclose(f);
        return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static autoprocs_chan *trim_gate;
static autoprocs_wg *trim_parked;

static void deep_parker(void *arg)
{
        volatile char buf[32 * 1024];
        char v;

        (void)arg;
        for (size_t i = 0; i < sizeof(buf); i += 1024)
                buf[i] = 1;
        autoprocs_wg_done(trim_parked);
        ck_assert_int_eq(autoprocs_chan_recv(trim_gate, &v), -EPIPE);
        sink = buf[0];
}

START_TEST(test_stack_trim)
{
        long peak, after;
        uint64_t t0;

        start(1);
        ck_assert_int_eq(autoprocs_chan_new(1, 0, &trim_gate), 0);
        ck_assert_int_eq(autoprocs_wg_new(&trim_parked), 0);
        autoprocs_wg_add(trim_parked, 2000);
        for (int i = 0; i < 2000; i++)
                ck_assert_int_eq(autoprocs_spawn(deep_parker, NULL, NULL), 0);
        autoprocs_wg_wait(trim_parked);
        peak = rss_kib();
        autoprocs_chan_close(trim_gate);
        /* after a second of idleness the monitor gives the cached stacks' pages back */
        t0 = ap_now_ns();
        do {
                usleep(100000);
                after = rss_kib();
        } while (after > peak - 40 * 1024 && ap_now_ns() - t0 < 30000000000ull);
        ck_assert_msg(after <= peak - 40 * 1024, "RSS %ld KiB at the peak, %ld KiB after", peak,
                      after);
        /* trimmed stacks are reused (faulted in again) */
        for (int i = 0; i < 100; i++)
                ck_assert_int_eq(autoprocs_spawn(incr, NULL, NULL), 0);
        ap_rt_stop();
        ck_assert_int_eq(atomic_load(&counter), 100);
        autoprocs_chan_free(trim_gate);
        autoprocs_wg_free(trim_parked);
}
END_TEST

/* ---- stealing -------------------------------------------------------------------------------- */

static _Atomic(ApP *) steal_home;      /* the spawner's P for the current batch */
static _Atomic long steal_ran, steal_elsewhere;

static ApP *cur_p(void)
{
        ApM *m = ap_cur_m();

        return m ? m->p : NULL;
}

static void steal_victim(void *arg)
{
        uint64_t until = ap_now_ns() + 50000;

        (void)arg;
        if (cur_p() != atomic_load(&steal_home))
                atomic_fetch_add(&steal_elsewhere, 1);
        while (ap_now_ns() < until) /* CPU-bound, no scheduling point */
                ap_cpu_relax();
        atomic_fetch_add(&steal_ran, 1);
}

/* Batches of CPU-bound tasks go on the spawner's own local queue (fewer than half the ring: no
 * overflow to the global queue) while the spawner keeps its P busy for 2 ms (far below the hog
 * threshold: the monitor does not move them).  The other P is idle: only stealing gets them
 * there.  Repeat until one ran elsewhere (deadline 20 s: a loaded machine may not run the idle
 * P's thread in time for a few batches). */
static void steal_spawner(void *arg)
{
        uint64_t deadline = ap_now_ns() + 20000000000ull;
        long batches = 0;

        (void)arg;
        while (atomic_load(&steal_elsewhere) == 0 && ap_now_ns() < deadline) {
                long target = atomic_load(&steal_ran) + 16;
                uint64_t spin_until;

                atomic_store(&steal_home, cur_p());
                for (int i = 0; i < 16; i++)
                        ck_assert_int_eq(autoprocs_spawn(steal_victim, NULL, NULL), 0);
                spin_until = ap_now_ns() + 2000000;
                while (atomic_load(&steal_ran) < target && ap_now_ns() < spin_until)
                        ap_cpu_relax();
                while (atomic_load(&steal_ran) < target)
                        autoprocs_yield(); /* run the rest here */
                batches++;
        }
        ck_assert_msg(atomic_load(&steal_elsewhere) > 0,
                      "no task left the spawner's P in %ld batches of 16 (another P was idle)",
                      batches);
}

START_TEST(test_steal)
{
        autoprocs_task *t;
        autoprocs_stats s;

        start(2);
        ck_assert_int_eq(autoprocs_spawn(steal_spawner, NULL, &t), 0);
        ck_assert_int_eq(autoprocs_task_join(t), 0);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_msg(s.steals > 0, "%ld tasks ran on another P, but %llu steals",
                      atomic_load(&steal_elsewhere), (unsigned long long)s.steals);
        stop_checked();
}
END_TEST

/* ---- yield ----------------------------------------------------------------------------------- */

#define YT 4
static _Atomic long ycount[YT];
static _Atomic long yspread;
static _Atomic int ystarted;

static void yielder(void *arg)
{
        int me = (int)(intptr_t)arg;

        ck_assert(autoprocs_in_task());
        /* the main thread spawns them one by one: start counting when all are there */
        atomic_fetch_add(&ystarted, 1);
        while (atomic_load(&ystarted) < YT)
                autoprocs_yield();
        for (int i = 0; i < 20000; i++) {
                long lo = 1L << 40, hi = 0;

                atomic_fetch_add(&ycount[me], 1);
                for (int j = 0; j < YT; j++) {
                        long c = atomic_load(&ycount[j]);

                        lo = c < lo ? c : lo;
                        hi = c > hi ? c : hi;
                }
                if (hi - lo > atomic_load(&yspread))
                        atomic_store(&yspread, hi - lo);
                autoprocs_yield();
        }
}

START_TEST(test_yield_fairness)
{
        autoprocs_task *t[YT];

        start(1);
        for (int i = 0; i < YT; i++)
                autoprocs_spawn(yielder, (void *)(intptr_t)i, &t[i]);
        for (int i = 0; i < YT; i++)
                autoprocs_task_join(t[i]);
        /* round robin on one P: nobody gets more than a couple of turns ahead */
        ck_assert_msg(atomic_load(&yspread) <= 3, "spread %ld", atomic_load(&yspread));
        stop_checked();
}
END_TEST

/* ---- sleep ----------------------------------------------------------------------------------- */

static _Atomic int wake_order[8], wake_pos;
static uint64_t sleep_base, sleep_spacing;
static _Atomic uint64_t sleep_last_start;  /* latest moment a sleeper went to sleep */
static _Atomic uint64_t sleep_late;        /* a sleeper ran once the next deadline was due too */

static void sleeper(void *arg)
{
        int i = (int)(intptr_t)arg;
        uint64_t t0 = ap_now_ns(), until = sleep_base + (uint64_t)(8 - i) * sleep_spacing;
        uint64_t prev = atomic_load(&sleep_last_start), woke;

        while (prev < t0 && !atomic_compare_exchange_weak(&sleep_last_start, &prev, t0))
                ;
        /* deadlines relative to one base, whenever each task happens to start */
        if (t0 < until)
                autoprocs_sleep_ns(until - t0);
        woke = ap_now_ns();
        ck_assert_uint_ge(woke, until);
        if (woke >= until + sleep_spacing)
                atomic_store(&sleep_late, 1);
        wake_order[atomic_fetch_add(&wake_pos, 1)] = i;
}

static void spinner_counting(void *arg)
{
        _Atomic long *n = arg;

        while (atomic_load(&wake_pos) < 8) {
                atomic_fetch_add(n, 1);
                autoprocs_yield();
        }
}

/* One round: 8 sleepers started in reverse order of their deadlines, @spacing_ns apart, the first
 * 4 spacings from now.  True when the round says something about the order: every sleeper was
 * asleep before the first deadline and each ran before the next deadline was due (two tasks due
 * at once may run in either order).  A loaded machine (TSan, 2 cores shared) misses that with
 * small spacings: the caller tries wider ones. */
static bool sleep_round(uint64_t spacing_ns, _Atomic long *spins)
{
        autoprocs_task *t[8], *sp;

        atomic_store(&wake_pos, 0);
        atomic_store(&sleep_last_start, 0);
        atomic_store(&sleep_late, 0);
        sleep_spacing = spacing_ns;
        sleep_base = ap_now_ns() + 4 * spacing_ns;
        for (int i = 0; i < 8; i++)
                autoprocs_spawn(sleeper, (void *)(intptr_t)i, &t[i]);
        autoprocs_spawn(spinner_counting, (void *)spins, &sp);
        for (int i = 0; i < 8; i++)
                autoprocs_task_join(t[i]);
        autoprocs_task_join(sp);
        return atomic_load(&sleep_last_start) < sleep_base + spacing_ns && !atomic_load(&sleep_late);
}

START_TEST(test_sleep_order)
{
        _Atomic long spins = 0;
        uint64_t spacing = 5000000u;
        bool clean = false;

        start(1);
        /* 5 ms apart, then 10, 20, ... 320 ms until one round is clean (see sleep_round). */
        for (int round = 0; round < 7 && !clean; round++, spacing *= 2)
                clean = sleep_round(spacing, &spins);
        ck_assert_msg(clean, "no round with deadlines up to %llu ms apart ran on time",
                      (unsigned long long)(spacing / 2 / 1000000));
        for (int i = 0; i < 8; i++)
                ck_assert_int_eq(wake_order[i], 7 - i);
        /* sleeping tasks did not hold the only P */
        ck_assert_int_gt(atomic_load(&spins), 100);
        stop_checked();
}
END_TEST

/* The monitor sleeps until the next deadline when no P is held and only timers are pending.  Work
 * arriving meanwhile must bring it back: a task that enters a blocking region gets its P retaken,
 * so the task queued behind it runs long before the region ends (and before the far deadline). */
static _Atomic int quiet_region_done, quiet_ran_in_region;

static void quiet_long_sleeper(void *arg)
{
        (void)arg;
        autoprocs_sleep_ns(3000000000ull);
}

static void quiet_blocker(void *arg)
{
        struct timespec ts = { 0, 400000000 };

        (void)arg;
        autoprocs_block_begin();
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        atomic_store(&quiet_region_done, 1);
        autoprocs_block_end();
}

static void quiet_marker(void *arg)
{
        (void)arg;
        atomic_store(&quiet_ran_in_region, !atomic_load(&quiet_region_done));
}

START_TEST(test_sleep_quiet_monitor)
{
        autoprocs_task *ls, *b, *mk;
        struct timespec ts = { 0, 100000000 };

        start(1);
        autoprocs_spawn(quiet_long_sleeper, NULL, &ls);
        nanosleep(&ts, NULL); /* every P idle, one timer 3 s away: the monitor sleeps */
        autoprocs_spawn(quiet_blocker, NULL, &b);
        autoprocs_spawn(quiet_marker, NULL, &mk);
        autoprocs_task_join(mk);
        ck_assert_int_eq(atomic_load(&quiet_ran_in_region), 1);
        autoprocs_task_join(b);
        autoprocs_task_join(ls);
        stop_checked();
}
END_TEST

/* ---- channels -------------------------------------------------------------------------------- */

typedef struct ChanArg {
        autoprocs_chan *c;
        long n;
        _Atomic long sum;
} ChanArg;

static void producer(void *arg)
{
        ChanArg *a = arg;

        for (long i = 1; i <= a->n; i++)
                ck_assert_int_eq(autoprocs_chan_send(a->c, &i), 0);
        autoprocs_chan_close(a->c);
        {
                long x = 1;

                ck_assert_int_eq(autoprocs_chan_send(a->c, &x), -EPIPE);
        }
}

static void consumer(void *arg)
{
        ChanArg *a = arg;
        long v, prev = 0;
        int r;

        while ((r = autoprocs_chan_recv(a->c, &v)) == 0) {
                ck_assert_int_eq(v, prev + 1); /* FIFO */
                prev = v;
                atomic_fetch_add(&a->sum, v);
        }
        ck_assert_int_eq(r, -EPIPE);
        ck_assert_int_eq(autoprocs_chan_recv(a->c, &v), -EPIPE);
}

static void chan_case(unsigned procs, size_t cap)
{
        ChanArg a = { .n = 100000 };
        autoprocs_task *t1, *t2;
        long v = 0;

        start(procs);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(long), cap, &a.c), 0);
        ck_assert_int_eq(autoprocs_chan_send(a.c, &v), -EPERM); /* not from a thread */
        autoprocs_spawn(consumer, &a, &t2);
        autoprocs_spawn(producer, &a, &t1);
        autoprocs_task_join(t1);
        autoprocs_task_join(t2);
        ck_assert_int_eq(atomic_load(&a.sum), a.n * (a.n + 1) / 2);
        autoprocs_chan_free(a.c);
        stop_checked();
}

START_TEST(test_chan_unbuffered)
{
        chan_case(1, 0);
}
END_TEST

START_TEST(test_chan_unbuffered_p2)
{
        chan_case(2, 0);
}
END_TEST

START_TEST(test_chan_buffered)
{
        chan_case(2, 16);
}
END_TEST

static void close_drain(void *arg)
{
        autoprocs_chan *c = arg;
        int v;

        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(autoprocs_chan_send(c, &i), 0);
        autoprocs_chan_close(c);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(autoprocs_chan_recv(c, &v), 0); /* drains first */
                ck_assert_int_eq(v, i);
        }
        ck_assert_int_eq(autoprocs_chan_recv(c, &v), -EPIPE);
}

static void blocked_recv(void *arg)
{
        int v;

        ck_assert_int_eq(autoprocs_chan_recv(arg, &v), -EPIPE);
}

START_TEST(test_chan_close)
{
        autoprocs_chan *c, *u;
        autoprocs_task *t, *r[4];

        start(2);
        ck_assert_int_eq(autoprocs_chan_new(0, 1, &c), -EINVAL);
        ck_assert_int_eq(autoprocs_chan_new(65537, 1, &c), -EINVAL);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(int), 4, &c), 0);
        autoprocs_spawn(close_drain, c, &t);
        autoprocs_task_join(t);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(int), 0, &u), 0);
        for (int i = 0; i < 4; i++)
                autoprocs_spawn(blocked_recv, u, &r[i]);
        usleep(20000);
        autoprocs_chan_close(u); /* from a thread: wakes every parked receiver */
        for (int i = 0; i < 4; i++)
                autoprocs_task_join(r[i]);
        autoprocs_chan_free(c);
        autoprocs_chan_free(u);
        stop_checked();
}
END_TEST

/* ---- wait group, mutex ----------------------------------------------------------------------- */

static autoprocs_wg *wg;

static void wg_worker(void *arg)
{
        (void)arg;
        autoprocs_sleep_ns(1000000);
        atomic_fetch_add(&counter, 1);
        autoprocs_wg_done(wg);
}

static void wg_waiter(void *arg)
{
        (void)arg;
        autoprocs_wg_wait(wg);
        ck_assert_int_eq(atomic_load(&counter), 500);
}

START_TEST(test_wg)
{
        autoprocs_task *w;

        start(2);
        ck_assert_int_eq(autoprocs_wg_new(&wg), 0);
        autoprocs_wg_wait(wg); /* zero: returns at once */
        autoprocs_wg_add(wg, 500);
        autoprocs_spawn(wg_waiter, NULL, &w);
        for (int i = 0; i < 500; i++)
                autoprocs_spawn(wg_worker, NULL, NULL);
        autoprocs_wg_wait(wg); /* from a thread */
        ck_assert_int_eq(atomic_load(&counter), 500);
        autoprocs_task_join(w);
        autoprocs_wg_free(wg);
        stop_checked();
}
END_TEST

static autoprocs_mutex *mu;
static long protected_count;
static _Atomic int inside;

static void mu_worker(void *arg)
{
        long n = (long)(intptr_t)arg;

        for (long i = 0; i < n; i++) {
                autoprocs_mutex_lock(mu);
                ck_assert_int_eq(atomic_fetch_add(&inside, 1), 0);
                protected_count++;
                if (i % 64 == 0)
                        autoprocs_yield(); /* hold it across a switch: others must park */
                atomic_fetch_sub(&inside, 1);
                autoprocs_mutex_unlock(mu);
        }
}

START_TEST(test_mutex)
{
        autoprocs_task *t[8];

        start(2);
        ck_assert_int_eq(autoprocs_mutex_new(&mu), 0);
        for (int i = 0; i < 8; i++)
                autoprocs_spawn(mu_worker, (void *)(intptr_t)20000, &t[i]);
        for (int i = 0; i < 2000; i++) { /* a plain thread contends too */
                autoprocs_mutex_lock(mu);
                ck_assert_int_eq(atomic_fetch_add(&inside, 1), 0);
                protected_count++;
                atomic_fetch_sub(&inside, 1);
                autoprocs_mutex_unlock(mu);
        }
        for (int i = 0; i < 8; i++)
                autoprocs_task_join(t[i]);
        ck_assert_int_eq(protected_count, 8 * 20000 + 2000);
        autoprocs_mutex_free(mu);
        stop_checked();
}
END_TEST

/* A hog (a plain thread: no scheduling point between its unlock and its re-lock) that unlocks
 * and at once re-locks, holding the mutex 300 us each time, and a waiter.  In normal mode the
 * woken waiter mostly finds it taken again (barging); it wins only when the kernel happens to
 * preempt the hog in between.  Once the waiter has waited over 1 ms the mutex switches to
 * starvation mode and the hog's next unlock hands it over.  A waiter may win early by such luck,
 * so rounds repeat until one was handed off (each round bounded: the waiter gets the mutex
 * within STARVE_HOG_MAX iterations of the hog). */
#define STARVE_HOG_MAX 2000
static _Atomic bool starve_waiter_done;
static _Atomic long starve_hog_iters, starve_hog_at_win;

static void starve_waiter(void *arg)
{
        (void)arg;
        autoprocs_mutex_lock(mu);
        atomic_store(&starve_hog_at_win, atomic_load(&starve_hog_iters));
        atomic_store(&starve_waiter_done, true);
        autoprocs_mutex_unlock(mu);
}

static void starve_round(void)
{
        struct timespec hold = { 0, 300000 };
        autoprocs_task *w;

        atomic_store(&starve_waiter_done, false);
        atomic_store(&starve_hog_iters, 0);
        autoprocs_mutex_lock(mu);
        ck_assert_int_eq(autoprocs_spawn(starve_waiter, NULL, &w), 0);
        while (!atomic_load(&starve_waiter_done) &&
               atomic_load(&starve_hog_iters) < STARVE_HOG_MAX) {
                nanosleep(&hold, NULL); /* holding it: the waiter has CPU to queue */
                atomic_fetch_add(&starve_hog_iters, 1);
                autoprocs_mutex_unlock(mu);
                autoprocs_mutex_lock(mu);
        }
        autoprocs_mutex_unlock(mu);
        ck_assert_int_eq(autoprocs_task_join(w), 0);
        ck_assert_msg(atomic_load(&starve_waiter_done),
                      "the waiter was starved for %d iterations of the hog", STARVE_HOG_MAX);
}

START_TEST(test_mutex_starvation)
{
        uint64_t handoffs0 = atomic_load(&ap_mutex_starve_handoffs);
        int round;

        start(2);
        ck_assert_int_eq(autoprocs_mutex_new(&mu), 0);
        for (round = 0; round < 100 && atomic_load(&ap_mutex_starve_handoffs) == handoffs0; round++)
                starve_round();
        ck_assert_msg(atomic_load(&ap_mutex_starve_handoffs) > handoffs0,
                      "%d rounds, no hand-off in starvation mode (the last waiter got the mutex "
                      "after %ld iterations of the hog)", round, atomic_load(&starve_hog_at_win));
        autoprocs_mutex_free(mu);
        stop_checked();
}
END_TEST

/* ---- blocking regions ------------------------------------------------------------------------ */

static int bpipe[2];
static _Atomic long ticks;
static _Atomic bool reader_done;
static _Atomic int readers_blocking;

/* Poll @cond (an expression) every ms for up to 20 s. */
#define WAIT_UNTIL(cond)                                                                       \
        do {                                                                                   \
                uint64_t until_ = ap_now_ns() + 20000000000ull;                                \
                while (!(cond) && ap_now_ns() < until_)                                        \
                        usleep(1000);                                                          \
        } while (0)

static void pipe_reader(void *arg)
{
        char c;
        ssize_t n;

        (void)arg;
        atomic_fetch_add(&readers_blocking, 1);
        autoprocs_block_begin();
        n = read(bpipe[0], &c, 1);
        autoprocs_block_end();
        ck_assert_int_eq(n, 1);
        atomic_store(&reader_done, true);
}

static void ticker(void *arg)
{
        (void)arg;
        while (!atomic_load(&reader_done)) {
                atomic_fetch_add(&ticks, 1);
                autoprocs_yield();
        }
}

START_TEST(test_block_handoff)
{
        autoprocs_task *r, *t;
        autoprocs_stats s;
        long before;

        ck_assert_int_eq(pipe(bpipe), 0);
        start(1);
        autoprocs_spawn(pipe_reader, NULL, &r);
        WAIT_UNTIL(atomic_load(&readers_blocking) == 1);
        autoprocs_spawn(ticker, NULL, &t);
        /* the reader sits in read(): only a hand-off of the only P lets the ticker run */
        WAIT_UNTIL(atomic_load(&ticks) > 100);
        before = atomic_load(&ticks);
        ck_assert_msg(before > 100, "the only P stayed with the blocked task (%ld ticks)", before);
        WAIT_UNTIL(atomic_load(&ticks) > before);
        ck_assert_int_gt(atomic_load(&ticks), before); /* still running */
        ck_assert_int_eq(write(bpipe[1], "x", 1), 1);
        autoprocs_task_join(r);
        autoprocs_task_join(t);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_ge(s.handoffs, 1);
        ck_assert_uint_ge(s.threads, 3);
        ck_assert_uint_eq(s.procs, 1);
        stop_checked();
}
END_TEST

static void block_sender(void *arg)
{
        int v = 42;

        autoprocs_sleep_ns(2000000);
        ck_assert_int_eq(autoprocs_chan_send(arg, &v), 0);
}

static void block_receiver(void *arg)
{
        autoprocs_task *t;
        int v = 0;

        ck_assert_int_eq(autoprocs_spawn(block_sender, arg, &t), 0);
        /* waiting inside a blocking region: the thread waits, the processor works elsewhere */
        autoprocs_block_begin();
        ck_assert_int_eq(autoprocs_chan_recv(arg, &v), 0);
        ck_assert_int_eq(autoprocs_task_join(t), 0);
        autoprocs_block_end();
        ck_assert_int_eq(v, 42);
}

START_TEST(test_block_park)
{
        autoprocs_chan *c;
        autoprocs_task *t;

        start(1);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(int), 0, &c), 0);
        autoprocs_spawn(block_receiver, c, &t);
        autoprocs_task_join(t);
        autoprocs_chan_free(c);
        stop_checked();
}
END_TEST

/* ---- hogs ------------------------------------------------------------------------------------ */

static _Atomic int hog_events;
static _Atomic bool stop_hog;

static void log_cb(autoprocs_log_level level, const char *event, const char *msg, void *ud)
{
        (void)ud;
        if (strcmp(event, "hog") == 0) {
                ck_assert_int_eq(level, AUTOPROCS_LOG_WARNING);
                ck_assert_msg(strncmp(msg, "task ", 5) == 0 && strstr(msg, " ms of CPU time on processor "),
                              "hog message: %s", msg);
                atomic_fetch_add(&hog_events, 1);
        }
}

static void hog(void *arg)
{
        bool use_checkpoint = arg != NULL;

        while (!atomic_load(&stop_hog))
                if (use_checkpoint)
                        autoprocs_checkpoint();
}

static void quick(void *arg)
{
        (void)arg;
        atomic_fetch_add(&counter, 1);
}

static void hog_then_quick(void *arg)
{
        /* queue work behind us on our own P, then hog it */
        for (int i = 0; i < 100; i++)
                autoprocs_spawn(quick, NULL, NULL);
        hog(arg);
}

START_TEST(test_hog)
{
        ApRtOptions o = { .procs = 2, .log_fn = log_cb };
        autoprocs_task *h;
        autoprocs_stats s;
        uint64_t t0;

        ck_assert_int_eq(ap_rt_start(&o), 0);
        autoprocs_spawn(hog_then_quick, NULL, &h);
        /* generous deadlines: under valgrind (one thread at a time) on a loaded machine the
         * first hog report took over 2 s */
        t0 = ap_now_ns();
        while (atomic_load(&counter) < 100 && ap_now_ns() - t0 < 30000000000u)
                usleep(1000);
        /* the queued work was rescued onto the other P although the hog never yields */
        ck_assert_int_eq(atomic_load(&counter), 100);
        while (atomic_load(&hog_events) == 0 && ap_now_ns() - t0 < 30000000000u)
                usleep(1000);
        ck_assert_int_ge(atomic_load(&hog_events), 1);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_ge(s.hogs, 1);
        atomic_store(&stop_hog, true);
        autoprocs_task_join(h);
        stop_checked();
}
END_TEST

static void checkpoint_peer(void *arg)
{
        (void)arg;
        atomic_store(&stop_hog, true);
}

START_TEST(test_checkpoint)
{
        autoprocs_task *h, *p;

        start(1);
        /* one P: the peer only runs if the monitor asks the hog to yield at a checkpoint */
        autoprocs_spawn(hog, (void *)1, &h);
        usleep(2000);
        autoprocs_spawn(checkpoint_peer, NULL, &p);
        autoprocs_task_join(p);
        autoprocs_task_join(h);
        stop_checked();
}
END_TEST

/* ---- resize ---------------------------------------------------------------------------------- */

static _Atomic bool load_stop;

static void load_task(void *arg)
{
        (void)arg;
        while (!atomic_load(&load_stop)) {
                for (int i = 0; i < 4; i++)
                        autoprocs_spawn(incr, NULL, NULL);
                autoprocs_yield();
        }
}

START_TEST(test_resize)
{
        autoprocs_task *t[4];
        autoprocs_stats s;
        static const unsigned sizes[] = { 4, 1, 3, 2, 8, 1, 2 };

        start(2);
        ck_assert_uint_eq(ap_rt_procs(), 2);
        ck_assert_int_eq(ap_rt_set_procs(0), -EINVAL);
        for (int i = 0; i < 4; i++)
                autoprocs_spawn(load_task, NULL, &t[i]);
        for (size_t i = 0; i < AP_ELEMENTSOF(sizes); i++) {
                ck_assert_int_eq(ap_rt_set_procs(sizes[i]), 0);
                ck_assert_int_eq(ap_rt_wait_procs(5000), 0);
                ck_assert_uint_eq(ap_rt_procs(), sizes[i]);
                usleep(5000);
        }
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.procs, 2);
        ck_assert_uint_eq(s.procs_target, 2);
        ck_assert_uint_ge(s.resizes_up, 3);
        ck_assert_uint_ge(s.resizes_down, 3);
        ck_assert_uint_gt(s.last_resize_ns, 0);
        atomic_store(&load_stop, true);
        for (int i = 0; i < 4; i++)
                autoprocs_task_join(t[i]);
        ap_rt_stop();
        ck_assert_int_eq(ap_rt_set_procs(2), -ESRCH);
        ck_assert_uint_eq(ap_rt_procs(), 0);
}
END_TEST

static void try_stop(void *arg)
{
        (void)arg;
        ap_rt_stop(); /* refused from a task */
        ck_assert(ap_rt_running());
}

START_TEST(test_restart)
{
        ApRtOptions bad = { .procs = 0 };
        autoprocs_task *t;

        ck_assert_int_eq(ap_rt_start(&bad), -EINVAL);
        ck_assert_int_eq(ap_rt_start(NULL), -EINVAL);
        bad = (ApRtOptions){ .procs = 1, .stack_size = 1024 };
        ck_assert_int_eq(ap_rt_start(&bad), -EINVAL);
        ap_rt_stop(); /* not running: no-op */
        for (int round = 0; round < 3; round++) {
                start(1 + round);
                ck_assert_int_eq(ap_rt_start(&(ApRtOptions){ .procs = 1 }), -EALREADY);
                ck_assert_int_eq(autoprocs_spawn(try_stop, NULL, &t), 0);
                ck_assert_int_eq(autoprocs_task_join(t), 0);
                for (int i = 0; i < 100; i++)
                        ck_assert_int_eq(autoprocs_spawn(incr, NULL, NULL), 0);
                ap_rt_stop(); /* waits for the detached ones */
                ck_assert_int_eq(atomic_load(&counter), 100 * (round + 1));
                ck_assert_int_eq(autoprocs_spawn(incr, NULL, NULL), -ESRCH);
        }
}
END_TEST

START_TEST(test_thread_cap)
{
        ApRtOptions o = { .procs = 1, .max_threads = 2 };
        autoprocs_task *r[4];
        autoprocs_stats s;

        ck_assert_int_eq(pipe(bpipe), 0);
        ck_assert_int_eq(ap_rt_start(&o), 0);
        for (int i = 0; i < 4; i++)
                autoprocs_spawn(pipe_reader, NULL, &r[i]);
        /* 2 readers hold the 2 threads in read(); the others wait for a thread: the cap is hit */
        WAIT_UNTIL(autoprocs_stats_get(&s, sizeof(s)) == 0 && s.thread_cap_hits >= 1);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_le(s.threads, 3); /* 2 workers + the monitor */
        ck_assert_uint_ge(s.thread_cap_hits, 1);
        ck_assert_int_eq(write(bpipe[1], "xxxx", 4), 4);
        for (int i = 0; i < 4; i++)
                autoprocs_task_join(r[i]);
        stop_checked();
}
END_TEST

/* Why the sanitizers or valgrind rule out a case here (NULL: it runs). */
static const char *no_sanitizer(bool tsan, bool asan, bool valgrind, const char *why)
{
        if ((tsan && AP_TSAN) || (asan && AP_ASAN) || (valgrind && ap_running_on_valgrind()))
                return why;
        return NULL;
}

int main(int argc, char **argv)
{
        Suite *s = suite_create("runtime");
        TCase *tc = tcase_create("runtime");

        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        if (argc > 1) {
                /* one case each (tests/meson.build 'cases'): SKIP in the builds that cannot run it */
                AP_TEST_RUN_CASE(s, tc, argv[1], test_switch,
                                 no_sanitizer(true, true, false, "raw switches without fiber hooks "
                                              "confuse the sanitizers"));
                AP_TEST_RUN_CASE(s, tc, argv[1], test_stack_overflow_guard,
                                 no_sanitizer(true, true, true, "the sanitizers (and valgrind) own "
                                              "SIGSEGV and instrument the recursion"));
                AP_TEST_RUN_CASE(s, tc, argv[1], test_stack_overflow_unguarded,
                                 no_sanitizer(true, true, true, "an overflow on purpose: the "
                                              "sanitizers and valgrind report it, rightly"));
                AP_TEST_RUN_CASE(s, tc, argv[1], test_stack_trim,
                                 no_sanitizer(true, false, false, "TSan's shadow of the stacks "
                                              "dominates the RSS it would measure"));
                fprintf(stderr, "no case %s\n", argv[1]);
                srunner_free(srunner_create(s));
                return EXIT_FAILURE;
        }
        tcase_add_test(tc, test_stack_pool);
        tcase_add_test(tc, test_runq);
        tcase_add_test(tc, test_runq_concurrent);
        tcase_add_test(tc, test_spawn_join);
        tcase_add_test(tc, test_steal);
        tcase_add_test(tc, test_yield_fairness);
        tcase_add_test(tc, test_sleep_order);
        tcase_add_test(tc, test_sleep_quiet_monitor);
        tcase_add_test(tc, test_chan_unbuffered);
        tcase_add_test(tc, test_chan_unbuffered_p2);
        tcase_add_test(tc, test_chan_buffered);
        tcase_add_test(tc, test_chan_close);
        tcase_add_test(tc, test_wg);
        tcase_add_test(tc, test_mutex);
        tcase_add_test(tc, test_mutex_starvation);
        tcase_add_test(tc, test_block_handoff);
        tcase_add_test(tc, test_block_park);
        tcase_add_test(tc, test_hog);
        tcase_add_test(tc, test_checkpoint);
        tcase_add_test(tc, test_resize);
        tcase_add_test(tc, test_thread_cap);
        tcase_add_test(tc, test_restart);
        return ap_test_run(s);
}
