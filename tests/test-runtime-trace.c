/* SPDX-License-Identifier: MIT */
/*
 * The scheduler trace (AUTOPROCS_SCHEDTRACE, lib/runtime/schedtrace.c): the test process sets
 * the variable, sends its own stderr into a pipe, starts the runtime and builds a state whose
 * figures hold still (tasks blocked in regions, a hog handed off, a second hog holding the only
 * processor, tasks queued behind it); each trace line must have the documented shape and one
 * must show exactly the figures of autoprocs_stats.  A bad value gives one line and no trace.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/internal.h"
#include "tests/ap-test.h"

#define DEADLINE_NS (20ull * 1000000000u)

static int trace_fd = -1;
static char tbuf[1 << 16];
static size_t tlen;

/* Redirect stderr into a pipe read by next_line(). */
static void capture_stderr(void)
{
        int fds[2];

        ck_assert_int_eq(pipe(fds), 0);
        ck_assert_int_ge(dup2(fds[1], STDERR_FILENO), 0);
        close(fds[1]);
        trace_fd = fds[0];
}

/* The next whole line of stderr, waiting up to @ms; false at the timeout. */
static bool next_line(char *line, size_t size, int ms)
{
        for (;;) {
                char *nl = memchr(tbuf, '\n', tlen);
                struct pollfd pfd = { .fd = trace_fd, .events = POLLIN };
                ssize_t n;

                if (nl) {
                        size_t l = (size_t)(nl - tbuf);

                        snprintf(line, size, "%.*s", (int)l, tbuf);
                        memmove(tbuf, nl + 1, tlen - l - 1);
                        tlen -= l + 1;
                        return true;
                }
                if (poll(&pfd, 1, ms) <= 0)
                        return false;
                n = read(trace_fd, tbuf + tlen, sizeof(tbuf) - tlen);
                ck_assert_int_gt(n, 0);
                tlen += (size_t)n;
        }
}

typedef struct Trace {
        unsigned long long ms, runqueue, blocked, polled;
        unsigned procs, idle, threads, spinning, idlethreads, hogthreads;
        unsigned nrunq;
        unsigned runq[8];
} Trace;

static bool parse_line(const char *line, Trace *t)
{
        char list[256];
        char *p, *end;
        int used = 0;

        *t = (Trace){ 0 };
        if (sscanf(line,
                   "autoprocs-sched %llums: procs=%u idleprocs=%u threads=%u spinningthreads=%u "
                   "idlethreads=%u hogthreads=%u runqueue=%llu [%255[0-9 ]] blocked=%llu polled=%llu%n",
                   &t->ms, &t->procs, &t->idle, &t->threads, &t->spinning, &t->idlethreads,
                   &t->hogthreads, &t->runqueue, list, &t->blocked, &t->polled, &used) != 11 ||
            line[used] != '\0')
                return false;
        for (p = list; *p;) {
                unsigned long v = strtoul(p, &end, 10);

                if (end == p || t->nrunq == 8)
                        return false;
                t->runq[t->nrunq++] = (unsigned)v;
                p = end;
                if (*p == ' ')
                        p++;
                else if (*p)
                        return false;
        }
        return t->nrunq == t->procs;
}

static bool same_as_stats(const Trace *t)
{
        autoprocs_stats s;
        uint32_t runq[8];
        int n;

        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        n = autoprocs_stats_runq(runq, 8);
        if (n != (int)t->procs || t->procs != s.procs || t->idle != s.procs_idle ||
            t->threads != s.threads || t->spinning != s.threads_spinning ||
            t->idlethreads != s.threads_idle || t->hogthreads != s.hog_threads ||
            t->runqueue != s.runq_global || t->blocked != s.tasks_blocking ||
            t->polled != s.tasks_polled)
                return false;
        for (int i = 0; i < n; i++)
                if (runq[i] != t->runq[i])
                        return false;
        return true;
}

static int bpipe[2];
static _Atomic int blocked_readers, hogs_running;
static _Atomic bool stop;

static void pipe_reader(void *arg)
{
        char c;

        (void)arg;
        autoprocs_block_begin();
        atomic_fetch_add(&blocked_readers, 1);
        ck_assert_int_eq(read(bpipe[0], &c, 1), 1);
        autoprocs_block_end();
}

static void hog(void *arg)
{
        uint64_t t0 = ap_now_ns();

        (void)arg;
        atomic_fetch_add(&hogs_running, 1);
        while (!atomic_load(&stop) && ap_now_ns() - t0 < DEADLINE_NS)
                ;
}

static void nop(void *arg)
{
        (void)arg;
}

static void wait_stats(const char *what, bool (*cond)(const autoprocs_stats *))
{
        uint64_t t0 = ap_now_ns();
        autoprocs_stats s;

        for (;;) {
                ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
                if (cond(&s))
                        return;
                ck_assert_msg(ap_now_ns() - t0 < DEADLINE_NS, "timed out waiting for %s", what);
                usleep(1000);
        }
}

static bool two_blocked(const autoprocs_stats *s)
{
        return s->tasks_blocking == 2 && atomic_load(&blocked_readers) == 2;
}

static bool one_hog_thread(const autoprocs_stats *s)
{
        return s->hog_threads == 1 && atomic_load(&hogs_running) == 2;
}

static bool five_queued(const autoprocs_stats *s)
{
        return s->runq_global + s->runq_local == 5;
}

START_TEST(test_trace_matches_stats)
{
        ApRtOptions o = { .procs = 1 };
        autoprocs_task *r[2], *h[2];
        char line[1024];
        Trace t, first = { 0 };
        bool matched = false;
        int lines = 0;
        uint64_t t0;

        ck_assert_int_eq(pipe(bpipe), 0);
        ck_assert_int_eq(setenv("AUTOPROCS_SCHEDTRACE", "20ms", 1), 0);
        capture_stderr();
        ck_assert_int_eq(ap_rt_start(&o), 0);
        for (int i = 0; i < 2; i++)
                autoprocs_spawn(pipe_reader, NULL, &r[i]);
        wait_stats("2 tasks in blocking regions", two_blocked);
        /* the first hog's P goes to the second; at most one hand-off per processor, so the
         * second keeps it and the queued tasks wait in the global queue */
        for (int i = 0; i < 2; i++)
                autoprocs_spawn(hog, NULL, &h[i]);
        wait_stats("a hog thread", one_hog_thread);
        for (int i = 0; i < 5; i++)
                autoprocs_spawn(nop, NULL, NULL);
        wait_stats("5 queued tasks", five_queued);

        t0 = ap_now_ns();
        while (!matched && ap_now_ns() - t0 < DEADLINE_NS) {
                ck_assert_msg(next_line(line, sizeof(line), 5000), "no trace line in 5 s");
                ck_assert_msg(parse_line(line, &t), "trace line of the wrong shape: '%s'", line);
                if (lines++ == 0)
                        first = t;
                else
                        ck_assert_uint_gt(t.ms, first.ms);
                matched = same_as_stats(&t);
        }
        ck_assert_msg(matched, "no trace line matched the stats; last: '%s'", line);
        ck_assert_uint_eq(t.procs, 1);
        ck_assert_uint_eq(t.hogthreads, 1);
        ck_assert_uint_eq(t.blocked, 2);
        ck_assert_uint_eq(t.runqueue + t.runq[0], 5);

        atomic_store(&stop, true);
        ck_assert_int_eq(write(bpipe[1], "xx", 2), 2);
        for (int i = 0; i < 2; i++) {
                autoprocs_task_join(r[i]);
                autoprocs_task_join(h[i]);
        }
        ap_rt_stop();
}
END_TEST

START_TEST(test_trace_bad_value)
{
        ApRtOptions o = { .procs = 1 };
        char line[1024];

        ck_assert_int_eq(setenv("AUTOPROCS_SCHEDTRACE", "fast", 1), 0);
        capture_stderr();
        ck_assert_int_eq(ap_rt_start(&o), 0);
        ck_assert(next_line(line, sizeof(line), 5000));
        ck_assert_msg(strstr(line, "AUTOPROCS_SCHEDTRACE=\"fast\"") &&
                              strstr(line, "no scheduler trace"),
                      "message: '%s'", line);
        /* and nothing else: no trace */
        ck_assert(!next_line(line, sizeof(line), 300));
        ap_rt_stop();
}
END_TEST

int main(void)
{
        Suite *s = suite_create("runtime-trace");
        TCase *tc = tcase_create("trace");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_trace_matches_stats);
        tcase_add_test(tc, test_trace_bad_value);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
