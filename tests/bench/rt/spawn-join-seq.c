/* SPDX-License-Identifier: MIT */
/*
 * spawn_join_seq: the root task spawns one task, joins it, and repeats; ns per round trip.
 */
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-spawn-join-seq"

typedef struct Ctx {
        uint64_t n;
        uint64_t count;     /* written by the children, one at a time */
        double ns_per_round_trip;
} Ctx;

static void child(void *arg)
{
        Ctx *c = arg;

        c->count++;
}

static void root(void *arg)
{
        Ctx *c = arg;
        uint64_t t0 = bench_now_ns();

        for (uint64_t i = 0; i < c->n; i++) {
                autoprocs_task *t;
                int r = autoprocs_spawn(child, c, &t);

                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
                r = autoprocs_task_join(t);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_task_join: %s", strerror(-r));
        }
        c->ns_per_round_trip = (double)(bench_now_ns() - t0) / (double)c->n;
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };

        bench_parse_args(argc, argv, PROG, 1000000, &a);
        c.n = a.n;
        bench_run_root(a.procs, root, &c);
        if (c.count != c.n)
                bench_fail(PROG, "%llu of %llu tasks ran", (unsigned long long)c.count,
                           (unsigned long long)c.n);
        bench_print("spawn_join_seq", c.ns_per_round_trip, "ns", NULL, a.procs);
        return 0;
}
