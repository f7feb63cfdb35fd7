/* SPDX-License-Identifier: MIT */
/*
 * blocking_reads_1e3: N tasks (--n, default 1,000) each read a 64 KiB file of their own (in the
 * page cache: written just before) through autoprocs_read, which serves regular files inside a
 * blocking region; ms for all of them.  Bounded blocking keeps the threads at processors + the
 * cap + the monitor; extra field peak_threads.  Go twin: goroutines doing os.ReadFile (Go hands
 * the P of each blocked read to another thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

#define PROG "bench-blocking-reads"
#define SIZE (64u * 1024u)

static char dir[] = "/tmp/autoprocs-bench-reads-XXXXXX";
static _Atomic uint64_t bytes;

static void reader(void *arg)
{
        char path[96], *buf = malloc(SIZE);
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/%u", dir, (unsigned)(uintptr_t)arg);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !buf)
                bench_fail(PROG, "%s: %s", path, strerror(errno));
        while ((n = autoprocs_read(fd, buf, SIZE, 0)) > 0)
                atomic_fetch_add(&bytes, (uint64_t)n);
        autoprocs_fd_close(fd);
        free(buf);
}

int main(int argc, char **argv)
{
        BenchArgs a;
        autoprocs_task **t;
        autoprocs_stats st;
        char *block = calloc(1, SIZE), extra[64], name[48], size[16];
        uint64_t t0, el;

        bench_parse_args(argc, argv, PROG, 1000, &a);
        if (!mkdtemp(dir) || !block)
                bench_fail(PROG, "mkdtemp: %s", strerror(errno));
        for (uint64_t i = 0; i < a.n; i++) {
                char path[96];
                int fd;

                snprintf(path, sizeof(path), "%s/%u", dir, (unsigned)i);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || write(fd, block, SIZE) != (ssize_t)SIZE)
                        bench_fail(PROG, "%s: %s", path, strerror(errno));
                close(fd);
        }
        t = calloc(a.n, sizeof(*t));
        bench_rt_start(a.procs);
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < a.n; i++)
                if (autoprocs_spawn(reader, (void *)(uintptr_t)i, &t[i]) < 0)
                        bench_fail(PROG, "spawn");
        for (uint64_t i = 0; i < a.n; i++)
                (void)autoprocs_task_join(t[i]);
        el = bench_now_ns() - t0;
        (void)autoprocs_stats_get(&st, sizeof(st));
        ap_rt_stop();
        for (uint64_t i = 0; i < a.n; i++) {
                char path[96];

                snprintf(path, sizeof(path), "%s/%u", dir, (unsigned)i);
                unlink(path);
        }
        rmdir(dir);
        if (atomic_load(&bytes) != a.n * SIZE)
                bench_fail(PROG, "read %llu bytes, expected %llu", (unsigned long long)bytes,
                           (unsigned long long)(a.n * SIZE));
        bench_size_name(a.n, size, sizeof(size));
        snprintf(name, sizeof(name), "blocking_reads_%s", size);
        snprintf(extra, sizeof(extra), "peak_threads=%llu", (unsigned long long)st.threads_peak);
        bench_print(name, (double)el / 1e6, "ms", extra, a.procs);
        free(t);
        free(block);
        return 0;
}
