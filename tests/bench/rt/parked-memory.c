/* SPDX-License-Identifier: MIT */
/*
 * parked_memory_<N>: RSS growth per task parked on a channel.  The root task spawns N detached
 * tasks that check in on a wait group and block receiving from one channel; once all have
 * checked in (and 20 ms later, so the last ones are parked) it reads /proc/self/statm again,
 * then closes the channel and waits for all to finish.  Bytes per task.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-parked-memory"

typedef struct Ctx {
        uint64_t n;
        autoprocs_chan *ch;
        autoprocs_wg *ready, *done;
        double bytes_per_task;
} Ctx;

static void parked(void *arg)
{
        Ctx *c = arg;
        char v;

        autoprocs_wg_done(c->ready);
        if (autoprocs_chan_recv(c->ch, &v) != -EPIPE)
                bench_fail(PROG, "a parked task received a value instead of the close");
        autoprocs_wg_done(c->done);
}

static void root(void *arg)
{
        Ctx *c = arg;
        int64_t before, after;

        autoprocs_wg_add(c->ready, (int64_t)c->n);
        autoprocs_wg_add(c->done, (int64_t)c->n);
        before = bench_rss_bytes();
        for (uint64_t i = 0; i < c->n; i++) {
                int r = autoprocs_spawn(parked, c, NULL);

                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn (task %llu): %s", (unsigned long long)i,
                                   strerror(-r));
        }
        autoprocs_wg_wait(c->ready);
        autoprocs_sleep_ns(20 * 1000 * 1000);
        after = bench_rss_bytes();
        autoprocs_chan_close(c->ch);
        autoprocs_wg_wait(c->done);
        c->bytes_per_task = (double)(after - before) / (double)c->n;
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };
        char size[32], name[64];
        int r;

        bench_parse_args(argc, argv, PROG, 100000, &a);
        c.n = a.n;
        r = autoprocs_chan_new(1, 0, &c.ch);
        if (r == 0)
                r = autoprocs_wg_new(&c.ready);
        if (r == 0)
                r = autoprocs_wg_new(&c.done);
        if (r < 0)
                bench_fail(PROG, "setup: %s", strerror(-r));
        bench_run_root(a.procs, root, &c);
        autoprocs_chan_free(c.ch);
        autoprocs_wg_free(c.ready);
        autoprocs_wg_free(c.done);
        bench_size_name(c.n, size, sizeof(size));
        snprintf(name, sizeof(name), "parked_memory_%s", size);
        bench_print(name, c.bytes_per_task, "B", NULL, a.procs);
        return 0;
}
