/* SPDX-License-Identifier: MIT */
/*
 * reaction: how fast autoprocs_init()'s watcher follows a CPU quota change, and what the watcher
 * costs.  A benchmark: it prints numbers, it never passes or fails on speed.
 *
 *     reaction [--interval-ms MS ...] [--samples N] [--idle-seconds S] [--json] [--verbose]
 *
 * Needs root and a writable cpu cgroup hierarchy (exit 77 with the reason otherwise).  Moves
 * itself, before any thread exists, into a fresh autoprocs-test-reaction-<pid> cgroup (libcgroup),
 * starts the runtime with policy ceil (this 2-CPU machine: 0.5 CPU -> 1 processor, 1.5 -> 2), then
 * for each interval (default 1000 and 10 ms):
 *
 *   Reaction.  N times: sleep a random fraction of an interval (so writes land at every phase of
 *   the tick), write the quota (0.5 <-> 1.5 alternately) with cgroup_modify_cgroup(), stamp t0
 *   when the write has returned (the kernel enforces the new quota from then on), then stamp when the procs-changed callback runs (the watcher asked the runtime for the new
 *   size) and when autoprocs_procs_wait() returns (the new size is in force: every removed
 *   processor has retired).  Between samples it waits out the damper's settle window so that
 *   each sample is an isolated change (a quick reversal is held on purpose: see lib/watch-damper.h).
 *   Target: in force within one interval + 1 ms (the 1 ms is the watcher's confirmation re-read).
 *
 *   Cost.  With the limit steady and the runtime idle, the watcher thread's own CPU time
 *   (pthread_getcpuclockid of the watcher, read before and after S seconds, default 10) divided by
 *   the ticks it ran gives the cost of one tick; per hour = cost per tick * 3600 s / interval.
 *   A second figure times ap_watch_tick() directly on this thread (1000 ticks, thread CPU clock).
 *
 * The cgroup is removed at the end, also on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autoprocs.h"
#include "lib/init.h"
#include "lib/watch-damper.h"
#include "lib/watch.h"
#include "tests/ap-test-cgroup.h"

static ApTestCgroup cg;
static bool verbose;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static unsigned changes;
static double t_callback;

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double clock_s(clockid_t clk)
{
        struct timespec ts;

        clock_gettime(clk, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_changed(unsigned old_procs, unsigned new_procs, void *ud)
{
        double t = now_s();

        (void)old_procs;
        (void)new_procs;
        (void)ud;
        pthread_mutex_lock(&lock);
        t_callback = t;
        changes++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
}

static void on_signal(int sig)
{
        ap_cg_remove(&cg);
        signal(sig, SIG_DFL);
        raise(sig);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static void sleep_s(double s)
{
        struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Wait for the callback count to pass @seen; returns its time, or 0 on timeout. */
static double wait_callback(unsigned seen, double timeout_s)
{
        struct timespec dl;
        double t = 0;

        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += (time_t)timeout_s + 1;
        pthread_mutex_lock(&lock);
        while (changes == seen)
                if (pthread_cond_timedwait(&cond, &lock, &dl) == ETIMEDOUT)
                        break;
        if (changes != seen)
                t = t_callback;
        pthread_mutex_unlock(&lock);
        return t;
}

static int measure(unsigned interval_ms, unsigned samples, double idle_s, bool json)
{
        autoprocs_config *c = NULL;
        double *cb = calloc(samples, sizeof(double)), *force = calloc(samples, sizeof(double));
        double interval = interval_ms / 1000.0, target_ms = interval_ms + 1.0;
        unsigned missed = 0, n = 0;
        clockid_t clk;
        double cpu0, cpu1, ticks0, ticks1, per_tick_us, per_hour_ms;
        int r;

        if (!cb || !force)
                return 1;
        /* Start from 0.5 CPU. */
        if (ap_cg_set_quota(&cg, 50000, 100000) != 0)
                return 1;
        if (autoprocs_config_new(&c) < 0 || autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL) < 0 ||
            autoprocs_config_set_interval_ns(c, (uint64_t)(interval_ms) * 1000000u) < 0 ||
            autoprocs_config_set_procs_changed_callback(c, on_changed, NULL) < 0)
                return 1;
        r = autoprocs_init(c);
        autoprocs_config_free(c);
        if (r < 0) {
                fprintf(stderr, "autoprocs_init: %s\n", strerror(-r));
                return 1;
        }
        if (autoprocs_procs() != 1)
                fprintf(stderr, "warning: %u processors at 0.5 CPU, expected 1\n", autoprocs_procs());

        for (unsigned i = 0; i < samples; i++) {
                bool up = i % 2 == 0;
                unsigned seen;
                double t0, t1, t2;

                sleep_s(interval * (double)(rand() % 1000) / 1000.0);
                pthread_mutex_lock(&lock);
                seen = changes;
                pthread_mutex_unlock(&lock);
                if (ap_cg_set_quota(&cg, up ? 150000 : 50000, 100000) != 0) {
                        fprintf(stderr, "writing the quota failed\n");
                        break;
                }
                /* The limit binds once the write has returned: the clock starts there. */
                t0 = now_s();
                t1 = wait_callback(seen, 3 * interval + 1);
                if (t1 == 0) {
                        fprintf(stderr, "sample %u: no resize within %.1f s\n", i, 3 * interval + 1);
                        continue;
                }
                r = autoprocs_procs_wait(5000 * 1000000ull);
                t2 = now_s();
                if (r < 0 || autoprocs_procs() != (up ? 2u : 1u))
                        fprintf(stderr, "sample %u: %u processors in force\n", i, autoprocs_procs());
                cb[n] = (t1 - t0) * 1e3;
                force[n] = (t2 - t0) * 1e3;
                if (verbose)
                        fprintf(stderr, "  sample %2u %s: callback %.2f ms, in force %.2f ms\n", i,
                                up ? "up  " : "down", cb[n], force[n]);
                missed += force[n] > target_ms;
                n++;
                /* An isolated change next time: past the damper's settle window. */
                sleep_s(interval * (AP_WATCH_SETTLE_TICKS + 1));
        }

        /* Cost: steady limit, idle runtime, the watcher thread's CPU clock. */
        if (ap_init_watcher_clock(&clk) < 0)
                return 1;
        ticks0 = (double)ap_init_watcher_ticks();
        cpu0 = clock_s(clk);
        sleep_s(idle_s);
        cpu1 = clock_s(clk);
        ticks1 = (double)ap_init_watcher_ticks();
        autoprocs_shutdown();
        per_tick_us = ticks1 > ticks0 ? (cpu1 - cpu0) * 1e6 / (ticks1 - ticks0) : 0;
        per_hour_ms = per_tick_us / 1e3 * 3600.0 / interval;

        if (n == 0)
                return 1;
        qsort(cb, n, sizeof(double), cmp_double);
        qsort(force, n, sizeof(double), cmp_double);
        if (json) {
                printf("{\"interval_ms\":%u,\"samples\":%u,\"callback_ms_median\":%.3f,"
                       "\"in_force_ms_min\":%.3f,\"in_force_ms_median\":%.3f,\"in_force_ms_max\":%.3f,"
                       "\"target_ms\":%.1f,\"over_target\":%u,\"watcher_us_per_tick\":%.2f,"
                       "\"watcher_ms_per_hour\":%.1f,\"watcher_cpu_percent\":%.4f}\n",
                       interval_ms, n, cb[n / 2], force[0], force[n / 2], force[n - 1], target_ms,
                       missed, per_tick_us, per_hour_ms, per_tick_us / 1e4 / interval);
        } else {
                printf("interval %u ms, %u isolated quota changes (0.5 <-> 1.5 CPUs):\n", interval_ms, n);
                printf("  quota write -> procs-changed callback: median %.2f  max %.2f ms\n", cb[n / 2],
                       cb[n - 1]);
                printf("  quota write -> new count in force:     min %.2f  median %.2f  max %.2f ms"
                       " (target <= %.0f ms: %u over)\n",
                       force[0], force[n / 2], force[n - 1], target_ms, missed);
                printf("  watcher CPU: %.2f us per tick over %.0f ticks = %.1f ms per hour (%.4f %% of "
                       "one CPU)\n",
                       per_tick_us, ticks1 - ticks0, per_hour_ms, per_tick_us / 1e4 / interval);
        }
        fflush(stdout);
        free(cb);
        free(force);
        return 0;
}

/* ap_watch_tick() itself, timed on this thread's CPU clock. */
static void tick_cost(bool json)
{
        autoprocs_config c;
        ApWatch *w = NULL;
        ApWatchResult res;
        double t0, t1;
        enum { N = 1000 };

        ap_config_init_defaults(&c);
        if (ap_watch_new(&c, &w) < 0)
                return;
        t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        for (int i = 0; i < N; i++)
                (void)ap_watch_tick(w, 0, &res);
        t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        ap_watch_free(w);
        if (json)
                printf("{\"name\":\"watch_tick\",\"us_per_tick\":%.2f}\n", (t1 - t0) * 1e6 / N);
        else
                printf("ap_watch_tick() alone: %.2f us CPU per tick (%d ticks, thread CPU clock)\n",
                       (t1 - t0) * 1e6 / N, N);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "interval-ms", required_argument, NULL, 'i' },
                { "samples", required_argument, NULL, 's' },
                { "idle-seconds", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        unsigned intervals[8], n_int = 0, samples = 0;
        double idle_s = 10;
        bool json = false;
        const char *why;
        pthread_condattr_t ca;
        int c, rc = 0;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'i':
                        if (n_int < 8)
                                intervals[n_int++] = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        samples = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'd':
                        idle_s = strtod(optarg, NULL);
                        break;
                case 'j':
                        json = true;
                        break;
                case 'v':
                        verbose = true;
                        break;
                default:
                        fprintf(stderr, "usage: reaction [--interval-ms MS ...] [--samples N] "
                                "[--idle-seconds S] [--json] [--verbose]\n");
                        return 2;
                }
        }
        if (n_int == 0) {
                intervals[n_int++] = 1000;
                intervals[n_int++] = 10;
        }
        why = ap_cg_usable();
        if (why) {
                fprintf(stderr, "reaction: real cgroups unavailable: %s\n", why);
                return 77;
        }
        if (ap_cg_version() != 1 && ap_cg_version() != 2)
                return 77;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&cond, &ca);
        srand((unsigned)getpid());

        ap_cg_name(&cg, "reaction", (long)getpid());
        if (ap_cg_create(&cg, 50000, 100000) != 0) {
                fprintf(stderr, "reaction: cannot create cgroup %s\n", cg.name);
                return 1;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        /* Single-threaded here: moving this thread moves the whole (future) process. */
        if (ap_cg_attach(&cg, getpid()) != 0) {
                fprintf(stderr, "reaction: cannot move into %s\n", cg.name);
                ap_cg_remove(&cg);
                return 1;
        }
        tick_cost(json);
        for (unsigned i = 0; i < n_int && rc == 0; i++)
                rc = measure(intervals[i], samples ? samples : (intervals[i] >= 500 ? 4 : 20), idle_s,
                             json);
        ap_cg_remove(&cg);
        return rc;
}
