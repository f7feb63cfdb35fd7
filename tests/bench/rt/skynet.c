/* SPDX-License-Identifier: MIT */
/*
 * skynet_<N> (https://github.com/atemerev/skynet): every task of size > 1 spawns 10 children
 * and sums their answers from an unbuffered channel; leaves answer their number.  N = 1e6 makes
 * 1,111,111 tasks; the sum must be N(N-1)/2.  Wall time in ms, from the first spawn to the sum.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/rt/bench-common.h"

#define PROG "bench-skynet"
#define DIV 10

/* A reply channel and the count of its users (the parent and its DIV children).  A sender may
 * still be inside autoprocs_chan_send() after the receiver got its value, so the channel is
 * freed by whichever user lets go of it last, not by the parent after its last receive. */
typedef struct Reply {
        autoprocs_chan *ch;
        atomic_uint refs;
} Reply;

typedef struct Node {
        Reply *out;
        uint64_t num;
        uint64_t size;
} Node;

static Reply *reply_new(unsigned users)
{
        Reply *r = malloc(sizeof(*r));
        int k;

        if (!r)
                bench_fail(PROG, "out of memory");
        k = autoprocs_chan_new(sizeof(uint64_t), 0, &r->ch);
        if (k < 0)
                bench_fail(PROG, "autoprocs_chan_new: %s", strerror(-k));
        atomic_init(&r->refs, users);
        return r;
}

static void reply_unref(Reply *r)
{
        if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
                autoprocs_chan_free(r->ch);
                free(r);
        }
}

static void reply_send(Reply *r, uint64_t v)
{
        if (autoprocs_chan_send(r->ch, &v) < 0)
                bench_fail(PROG, "send failed");
        reply_unref(r);
}

static void node(void *arg)
{
        /* Copy the arguments first: they live on the parent's stack, which stays valid until
         * the parent has received our answer. */
        Node self = *(const Node *)arg;
        Node kids[DIV];
        Reply *rc;
        uint64_t sum = 0, v;
        int r;

        if (self.size == 1) {
                reply_send(self.out, self.num);
                return;
        }
        rc = reply_new(DIV + 1);
        for (int i = 0; i < DIV; i++) {
                kids[i] = (Node){ .out = rc, .num = self.num + (uint64_t)i * (self.size / DIV),
                                  .size = self.size / DIV };
                r = autoprocs_spawn(node, &kids[i], NULL);
                if (r < 0)
                        bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        }
        for (int i = 0; i < DIV; i++) {
                if (autoprocs_chan_recv(rc->ch, &v) < 0)
                        bench_fail(PROG, "recv failed");
                sum += v;
        }
        reply_unref(rc);
        reply_send(self.out, sum);
}

typedef struct Ctx {
        uint64_t n;
        uint64_t sum;
        double ms;
} Ctx;

static void root(void *arg)
{
        Ctx *c = arg;
        Reply *rc = reply_new(2);
        Node top = { .out = rc, .num = 0, .size = c->n };
        uint64_t t0;
        int r;

        t0 = bench_now_ns();
        r = autoprocs_spawn(node, &top, NULL);
        if (r < 0)
                bench_fail(PROG, "autoprocs_spawn: %s", strerror(-r));
        if (autoprocs_chan_recv(rc->ch, &c->sum) < 0)
                bench_fail(PROG, "root recv failed");
        c->ms = (double)(bench_now_ns() - t0) / 1e6;
        reply_unref(rc);
}

int main(int argc, char **argv)
{
        BenchArgs a;
        Ctx c = { 0 };
        char size[32], name[64];

        bench_parse_args(argc, argv, PROG, 1000000, &a);
        for (uint64_t s = a.n; s > 1; s /= DIV)
                if (s % DIV != 0) {
                        fprintf(stderr, "%s: --n must be a power of ten, got %llu\n", PROG,
                                (unsigned long long)a.n);
                        return 2;
                }
        c.n = a.n;
        bench_run_root(a.procs, root, &c);
        if (c.sum != c.n * (c.n - 1) / 2)
                bench_fail(PROG, "sum %llu, expected %llu", (unsigned long long)c.sum,
                           (unsigned long long)(c.n * (c.n - 1) / 2));
        bench_size_name(c.n, size, sizeof(size));
        snprintf(name, sizeof(name), "skynet_%s", size);
        bench_print(name, c.ms, "ms", NULL, a.procs);
        return 0;
}
