/* SPDX-License-Identifier: MIT */
/*
 * spawn_all_<N>: the root task spawns N detached tasks that each mark a wait group done, then
 * waits for the group; ns per task.
 */
#include <stdio.h>
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-spawn-all"

typedef struct Ctx {
        uint64_t n;
        autoprocs_wg *wg;
        double ns_per_task;
} Ctx;

static void child(void *arg)
{
        autoprocs_wg_done(arg);
}

static void root(void *arg)
{
        Ctx *c = arg;
        uint64_t t0;

        autoprocs_wg_add(c->wg, (int64_t)c->n);
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < c->n; i++) {
                int r = autoprocs_spawn(child, c->wg, NULL);

                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn (task %llu): %s", (unsigned long long)i,
                                   strerror(-r));
        }
        autoprocs_wg_wait(c->wg);
        c->ns_per_task = (double)(bench_now_ns() - t0) / (double)c->n;
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };
        char size[32], name[64];
        int r;

        bench_parse_args(argc, argv, PROG, 100000, &a);
        c.n = a.n;
        r = autoprocs_wg_new(&c.wg);
        if (r < 0)
                bench_fail(PROG, "autoprocs_wg_new: %s", strerror(-r));
        bench_run_root(a.procs, root, &c);
        autoprocs_wg_free(c.wg);
        bench_size_name(c.n, size, sizeof(size));
        snprintf(name, sizeof(name), "spawn_all_%s", size);
        bench_print(name, c.ns_per_task, "ns", NULL, a.procs);
        return 0;
}
