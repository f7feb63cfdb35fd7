/* SPDX-License-Identifier: MIT */
/*
 * tcp_echo_N: N loopback TCP connections, each driven by a client task doing request/response
 * round trips of 64 bytes against an echo task per connection; ns per round trip over all of
 * them (about 200,000 in total, at least 4 per connection).  The echo server runs in a forked
 * child process with its own runtime, so each side needs N fds (10,000 connections fit a 20,000
 * fd limit).  Extra field peak_threads: the client process's most OS threads of the runtime.
 * The Go twin (tests/bench/go/rt/net.go) does the same with net.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runtime/runtime.h"
#include "tests/bench/rt/bench-common.h"

#define PROG "bench-tcp-echo"
#define MSG 64
#define TOTAL 200000u

static struct {
        int lfd;
        struct sockaddr_in addr;
        uint64_t n, rounds;
        autoprocs_wg *ready;
        _Atomic uint64_t errors;
} B;

static void echo(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char buf[MSG];
        ssize_t n;

        while ((n = autoprocs_recv(fd, buf, sizeof(buf), 0, 0)) > 0)
                if (autoprocs_send(fd, buf, (size_t)n, 0, 0) != n)
                        break;
        autoprocs_fd_close(fd);
}

static void acceptor(void *arg)
{
        (void)arg;
        for (uint64_t i = 0; i < B.n; i++) {
                int fd = autoprocs_accept(B.lfd, NULL, NULL, SOCK_CLOEXEC, 0), one = 1;

                if (fd < 0)
                        bench_fail(PROG, "accept: %s", strerror(-fd));
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (autoprocs_spawn(echo, (void *)(intptr_t)fd, NULL) < 0)
                        bench_fail(PROG, "spawn");
        }
}

static void client(void *arg)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r;
        char msg[MSG], back[MSG];

        (void)arg;
        r = autoprocs_connect(fd, (struct sockaddr *)&B.addr, sizeof(B.addr), 0);
        if (r < 0)
                bench_fail(PROG, "connect: %s", strerror(-r));
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        memset(msg, 'x', sizeof(msg));
        autoprocs_wg_done(B.ready);
        autoprocs_wg_wait(B.ready);
        for (uint64_t i = 0; i < B.rounds; i++) {
                size_t got = 0;

                if (autoprocs_send(fd, msg, sizeof(msg), 0, 0) != (ssize_t)sizeof(msg)) {
                        atomic_fetch_add(&B.errors, 1);
                        break;
                }
                while (got < sizeof(back)) {
                        ssize_t k = autoprocs_recv(fd, back + got, sizeof(back) - got, 0, 0);

                        if (k <= 0) {
                                atomic_fetch_add(&B.errors, 1);
                                goto out;
                        }
                        got += (size_t)k;
                }
        }
out:
        autoprocs_fd_close(fd);
}

static void fds_for(uint64_t n)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64)
                bench_fail(PROG, "%llu connections need %llu fds per process; RLIMIT_NOFILE is %llu",
                           (unsigned long long)n, (unsigned long long)(n + 64),
                           (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
        BenchArgs a;
        socklen_t len = sizeof(B.addr);
        autoprocs_task **cl, *acc;
        autoprocs_stats st;
        uint64_t t0, el;
        char name[32], size[16], extra[64];
        pid_t child;

        bench_parse_args(argc, argv, PROG, 100, &a);
        B.n = a.n;
        B.rounds = TOTAL / B.n > 4 ? TOTAL / B.n : 4;
        fds_for(B.n);
        B.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        B.addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(B.lfd, (struct sockaddr *)&B.addr, sizeof(B.addr)) < 0 ||
            listen(B.lfd, 4096) < 0 || getsockname(B.lfd, (struct sockaddr *)&B.addr, &len) < 0)
                bench_fail(PROG, "listen: %s", strerror(errno));
        child = fork();
        if (child < 0)
                bench_fail(PROG, "fork: %s", strerror(errno));
        if (child == 0) {
                bench_rt_start(a.procs);
                if (autoprocs_spawn(acceptor, NULL, &acc) < 0 || autoprocs_task_join(acc) < 0)
                        _exit(1);
                pause(); /* the echo tasks serve until the parent kills us */
                _exit(0);
        }
        close(B.lfd);
        if (autoprocs_wg_new(&B.ready) < 0)
                bench_fail(PROG, "wg");
        autoprocs_wg_add(B.ready, (int64_t)B.n + 1);
        cl = calloc(B.n, sizeof(*cl));
        bench_rt_start(a.procs);
        for (uint64_t i = 0; i < B.n; i++)
                if (autoprocs_spawn(client, NULL, &cl[i]) < 0)
                        bench_fail(PROG, "spawn");
        /* all connected: the clock starts when the last one is in */
        autoprocs_wg_done(B.ready);
        autoprocs_wg_wait(B.ready);
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < B.n; i++)
                (void)autoprocs_task_join(cl[i]);
        el = bench_now_ns() - t0;
        (void)autoprocs_stats_get(&st, sizeof(st));
        ap_rt_stop();
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        if (atomic_load(&B.errors))
                bench_fail(PROG, "%llu connections failed", (unsigned long long)B.errors);
        bench_size_name(B.n, size, sizeof(size));
        snprintf(name, sizeof(name), "tcp_echo_%llu", (unsigned long long)B.n);
        snprintf(extra, sizeof(extra), "peak_threads=%llu", (unsigned long long)st.threads_peak);
        bench_print(name, (double)el / (double)(B.n * B.rounds), "ns", extra, a.procs);
        free(cl);
        return 0;
}
