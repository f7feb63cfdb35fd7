/* SPDX-License-Identifier: MIT */
/*
 * chan_pingpong: the root task sends on an unbuffered channel, an echo task answers on another;
 * ns per round trip.
 */
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-chan-pingpong"

typedef struct Ctx {
        uint64_t n;
        autoprocs_chan *ping, *pong;
        double ns_per_round_trip;
} Ctx;

static void echo(void *arg)
{
        Ctx *c = arg;
        uint64_t v;

        while (autoprocs_chan_recv(c->ping, &v) == 0)
                if (autoprocs_chan_send(c->pong, &v) < 0)
                        bench_fail(PROG, "echo: send on pong failed");
}

static void root(void *arg)
{
        Ctx *c = arg;
        autoprocs_task *t;
        uint64_t sum = 0, t0;
        int r;

        r = autoprocs_spawn(echo, c, &t);
        if (r < 0)
                bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < c->n; i++) {
                uint64_t v;

                if (autoprocs_chan_send(c->ping, &i) < 0 || autoprocs_chan_recv(c->pong, &v) < 0)
                        bench_fail(PROG, "round trip %llu failed", (unsigned long long)i);
                sum += v;
        }
        c->ns_per_round_trip = (double)(bench_now_ns() - t0) / (double)c->n;
        autoprocs_chan_close(c->ping);
        (void)autoprocs_task_join(t);
        if (sum != c->n * (c->n - 1) / 2)
                bench_fail(PROG, "sum %llu, expected %llu", (unsigned long long)sum,
                           (unsigned long long)(c->n * (c->n - 1) / 2));
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };
        int r;

        bench_parse_args(argc, argv, PROG, 1000000, &a);
        c.n = a.n;
        r = autoprocs_chan_new(sizeof(uint64_t), 0, &c.ping);
        if (r == 0)
                r = autoprocs_chan_new(sizeof(uint64_t), 0, &c.pong);
        if (r < 0)
                bench_fail(PROG, "autoprocs_chan_new: %s", strerror(-r));
        bench_run_root(a.procs, root, &c);
        autoprocs_chan_free(c.ping);
        autoprocs_chan_free(c.pong);
        bench_print("chan_pingpong", c.ns_per_round_trip, "ns", NULL, a.procs);
        return 0;
}
