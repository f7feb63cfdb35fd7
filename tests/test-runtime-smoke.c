/* SPDX-License-Identifier: MIT */
/*
 * A dependency-free smoke test of the runtime (no Check), so that it can be cross-built with the
 * runtime's sources alone and run under qemu-user on another architecture, e.g. aarch64:
 *
 *   aarch64-linux-gnu-gcc -c lib/runtime/arch/switch-aarch64.S -o switch.o
 *   aarch64-linux-gnu-gcc -O2 -std=c11 -D_GNU_SOURCE -static -pthread -Ibuild -Ilib \
 *       -Ilib/include -include build/config.h lib/runtime/[a-z]*.c switch.o \
 *       tests/test-runtime-smoke.c -o smoke-a64 -lm && qemu-aarch64 ./smoke-a64
 *
 * It checks spawn/join, per-task floating-point rounding modes across switches, channels,
 * sleep, deep stacks and a resize; it prints "runtime smoke ok" and exits 0.
 */
#include <fenv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/runtime/runtime.h"

#define FAIL(...)                                       \
        do {                                            \
                fprintf(stderr, "smoke: " __VA_ARGS__); \
                exit(1);                                \
        } while (0)

static _Atomic long n;
static autoprocs_chan *c;

static void leaf(void *arg)
{
        (void)arg;
        atomic_fetch_add(&n, 1);
}

/* Each task keeps its own rounding mode (MXCSR / FPCR are saved by the switch). */
static void yielder(void *arg)
{
        fesetround((int)(long)arg);
        for (int i = 0; i < 10000; i++) {
                autoprocs_yield();
                if (fegetround() != (int)(long)arg)
                        FAIL("rounding mode not preserved across a switch\n");
        }
}

static void sender(void *arg)
{
        (void)arg;
        for (long i = 0; i < 10000; i++)
                if (autoprocs_chan_send(c, &i) != 0)
                        FAIL("send failed\n");
        autoprocs_chan_close(c);
}

static void receiver(void *arg)
{
        long v, s = 0;

        (void)arg;
        while (autoprocs_chan_recv(c, &v) == 0)
                s += v;
        if (s != 49995000)
                FAIL("channel sum %ld\n", s);
}

static void sleeper(void *arg)
{
        (void)arg;
        autoprocs_sleep_ns(2000000);
        atomic_fetch_add(&n, 1);
}

static int deep(int k)
{
        volatile char b[1000];

        b[0] = (char)k;
        return k ? deep(k - 1) + b[0] : 0;
}

static void deeptask(void *arg)
{
        (void)arg;
        atomic_fetch_add(&n, deep(40) >= 0);
}

int main(void)
{
        ApRtOptions o = { .procs = 2 };
        autoprocs_task *t[4];

        if (ap_rt_start(&o) != 0)
                FAIL("ap_rt_start\n");
        for (int i = 0; i < 20000; i++) {
                if (autoprocs_spawn(leaf, NULL, &t[0]) != 0 || autoprocs_task_join(t[0]) != 0)
                        FAIL("spawn/join\n");
        }
        autoprocs_spawn(yielder, (void *)(long)FE_UPWARD, &t[0]);
        autoprocs_spawn(yielder, (void *)(long)FE_DOWNWARD, &t[1]);
        autoprocs_task_join(t[0]);
        autoprocs_task_join(t[1]);
        if (autoprocs_chan_new(sizeof(long), 0, &c) != 0)
                FAIL("chan_new\n");
        autoprocs_spawn(receiver, NULL, &t[0]);
        autoprocs_spawn(sender, NULL, &t[1]);
        autoprocs_task_join(t[0]);
        autoprocs_task_join(t[1]);
        autoprocs_chan_free(c);
        autoprocs_spawn(sleeper, NULL, &t[2]);
        autoprocs_spawn(deeptask, NULL, &t[3]);
        autoprocs_task_join(t[2]);
        autoprocs_task_join(t[3]);
        if (ap_rt_set_procs(1) != 0 || ap_rt_wait_procs(5000) != 0 || ap_rt_procs() != 1)
                FAIL("resize to 1\n");
        if (atomic_load(&n) != 20002)
                FAIL("n = %ld, expected 20002\n", atomic_load(&n));
        ap_rt_stop();
        printf("runtime smoke ok\n");
        return 0;
}
