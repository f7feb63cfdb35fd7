/* SPDX-License-Identifier: MIT */
/*
 * yield_pingpong: two tasks alternate autoprocs_yield(); ns per switch (2n switches).
 * compare-runtime runs it (and its Go twin, runtime.Gosched) on one processor.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-yield-pingpong"

typedef struct Ctx {
        uint64_t n;
        double ns_per_switch;
} Ctx;

static void yielder(void *arg)
{
        const Ctx *c = arg;

        for (uint64_t i = 0; i < c->n; i++)
                autoprocs_yield();
}

static void root(void *arg)
{
        Ctx *c = arg;
        autoprocs_task *t[2];
        uint64_t t0 = bench_now_ns();
        int r;

        for (int i = 0; i < 2; i++) {
                r = autoprocs_spawn(yielder, c, &t[i]);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        for (int i = 0; i < 2; i++)
                (void)autoprocs_task_join(t[i]);
        c->ns_per_switch = (double)(bench_now_ns() - t0) / (double)(2 * c->n);
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };

        bench_parse_args(argc, argv, PROG, 1000000, &a);
        c.n = a.n;
        bench_run_root(a.procs, root, &c);
        bench_print("yield_pingpong", c.ns_per_switch, "ns", NULL, a.procs);
        return 0;
}
