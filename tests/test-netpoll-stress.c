/* SPDX-License-Identifier: MIT */
/*
 * Stress test of the netpoller: 10,000 loopback TCP connections (1,500 under ThreadSanitizer,
 * which holds about 8,000 task fibers), all open at once, each served by its own echo task (in
 * a child process with its own runtime, so that each side needs 10,000 fds) and driven by its
 * own client task through a few round trips, while a plain thread in each process resizes the
 * runtime between 1 and 4 processors every few milliseconds.  Every echo must come back intact,
 * every task must finish, no task may be left on the poller, and the thread count stays small.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ap-test.h"
#include "lib/runtime/fiber.h"
#include "lib/runtime/internal.h"

#define ROUNDS 4
#define MSG 64
#define MS 1000000ull

static struct {
        int lfd;
        struct sockaddr_in addr;
        unsigned n;
        autoprocs_wg *connected;
        _Atomic uint64_t echoed, served, failures;
        _Atomic bool done;
} S;

static void echo_task(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char buf[MSG];
        ssize_t n;

        while ((n = autoprocs_recv(fd, buf, sizeof(buf), 0, autoprocs_now_ns() + 120000 * MS)) > 0) {
                if (autoprocs_send(fd, buf, (size_t)n, 0, 0) != n) {
                        atomic_fetch_add(&S.failures, 1);
                        break;
                }
        }
        if (n < 0)
                atomic_fetch_add(&S.failures, 1);
        atomic_fetch_add(&S.served, 1);
        autoprocs_fd_close(fd);
}

static void acceptor(void *arg)
{
        (void)arg;
        for (unsigned i = 0; i < S.n; i++) {
                int fd = autoprocs_accept(S.lfd, NULL, NULL, SOCK_CLOEXEC,
                                          autoprocs_now_ns() + 120000 * MS);

                ck_assert_msg(fd >= 0, "accept %u: %s", i, strerror(-fd));
                ck_assert_int_eq(autoprocs_spawn(echo_task, (void *)(intptr_t)fd, NULL), 0);
        }
}

static void client_task(void *arg)
{
        uint64_t id = (uint64_t)(uintptr_t)arg;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r;
        char msg[MSG], back[MSG];

        ck_assert_int_ge(fd, 0);
        r = autoprocs_connect(fd, (struct sockaddr *)&S.addr, sizeof(S.addr),
                              autoprocs_now_ns() + 120000 * MS);
        ck_assert_msg(r == 0, "connect %llu: %s", (unsigned long long)id, strerror(-r));
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* everybody connected before anybody talks: all connections are open at once */
        autoprocs_wg_done(S.connected);
        autoprocs_wg_wait(S.connected);
        for (int i = 0; i < ROUNDS; i++) {
                size_t got = 0;

                for (size_t k = 0; k < sizeof(msg); k++)
                        msg[k] = (char)(id * 31 + (uint64_t)i * 7 + k);
                ck_assert_int_eq(autoprocs_send(fd, msg, sizeof(msg), 0, 0), (ssize_t)sizeof(msg));
                while (got < sizeof(back)) {
                        ssize_t n = autoprocs_recv(fd, back + got, sizeof(back) - got, 0,
                                                   autoprocs_now_ns() + 120000 * MS);

                        ck_assert_msg(n > 0, "client %llu: recv %zd", (unsigned long long)id, n);
                        got += (size_t)n;
                }
                ck_assert_int_eq(memcmp(msg, back, sizeof(msg)), 0);
                atomic_fetch_add(&S.echoed, 1);
                if ((id + (uint64_t)i) % 3 == 0)
                        autoprocs_yield();
        }
        autoprocs_fd_close(fd);
}

static void *resizer(void *arg)
{
        unsigned n = 1;

        (void)arg;
        while (!atomic_load(&S.done)) {
                struct timespec ts = { 0, 3 * 1000 * 1000 };

                n = n % 4 + 1;
                (void)ap_rt_set_procs(n);
                nanosleep(&ts, NULL);
        }
        return NULL;
}

/* Room for n + 256 fds: raise the soft limit, and the hard one when allowed (root). */
static unsigned fit_fds(unsigned n)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)n + 256;

        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_max < want) {
                struct rlimit up = { want, want };

                if (setrlimit(RLIMIT_NOFILE, &up) == 0)
                        rl = up;
        }
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < want) {
                n = (unsigned)(rl.rlim_cur - 256);
                fprintf(stderr, "netpoll-stress: RLIMIT_NOFILE %llu allows %u connections\n",
                        (unsigned long long)rl.rlim_cur, n);
        }
        return n;
}

/* The server process: accept S.n connections, echo each until its peer closes. */
static int serve(void)
{
        ApRtOptions o = { .procs = 2, .stack_size = 32 * 1024 };
        autoprocs_task *acc;
        autoprocs_stats s;
        pthread_t rz;

        if (ap_rt_start(&o) != 0 || pthread_create(&rz, NULL, resizer, NULL) != 0)
                return 2;
        if (autoprocs_spawn(acceptor, NULL, &acc) != 0 || autoprocs_task_join(acc) != 0)
                return 3;
        for (uint64_t end = autoprocs_now_ns() + 120000 * MS;
             atomic_load(&S.served) < S.n && autoprocs_now_ns() < end;)
                usleep(1000);
        atomic_store(&S.done, true);
        pthread_join(rz, NULL);
        if (autoprocs_stats_get(&s, sizeof(s)) != 0 || s.tasks_polled != 0 || s.threads_peak > 16)
                return 4;
        if (atomic_load(&S.served) != S.n || atomic_load(&S.failures) != 0)
                return 5;
        autoprocs_fd_close(S.lfd);
        ap_rt_stop();
        return 0;
}

START_TEST(test_10k_connections_resizing)
{
        ApRtOptions o = { .procs = 2, .stack_size = 32 * 1024 };
        autoprocs_task **cl;
        autoprocs_stats s;
        pthread_t rz;
        pid_t child;
        int status;
        socklen_t len = sizeof(S.addr);

        S.n = fit_fds(getenv("AP_STRESS_N") ? (unsigned)atoi(getenv("AP_STRESS_N")) : AP_TSAN ? 1500 : 10000);
        ck_assert_uint_ge(S.n, 1000);
        S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        S.addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(bind(S.lfd, (struct sockaddr *)&S.addr, sizeof(S.addr)), 0);
        ck_assert_int_eq(listen(S.lfd, 4096), 0);
        ck_assert_int_eq(getsockname(S.lfd, (struct sockaddr *)&S.addr, &len), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0)
                _exit(serve());
        close(S.lfd);

        ck_assert_int_eq(autoprocs_wg_new(&S.connected), 0);
        autoprocs_wg_add(S.connected, S.n);
        cl = calloc(S.n, sizeof(*cl));
        ck_assert_int_eq(ap_rt_start(&o), 0);
        ck_assert_int_eq(pthread_create(&rz, NULL, resizer, NULL), 0);
        for (unsigned i = 0; i < S.n; i++)
                ck_assert_int_eq(autoprocs_spawn(client_task, (void *)(uintptr_t)i, &cl[i]), 0);
        for (unsigned i = 0; i < S.n; i++)
                ck_assert_int_eq(autoprocs_task_join(cl[i]), 0);
        atomic_store(&S.done, true);
        pthread_join(rz, NULL);

        ck_assert_uint_eq(atomic_load(&S.echoed), (uint64_t)S.n * ROUNDS);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.tasks_polled, 0);
        ck_assert_uint_ge(s.resizes_up + s.resizes_down, 2);
        /* at most 4 processors, each with its thread, a polling M and the monitor, plus the
         * threads a shrink leaves parked: nowhere near one per connection */
        ck_assert_uint_le(s.threads_peak, 16);
        ap_rt_stop();
        autoprocs_wg_free(S.connected);
        free(cl);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the echo server process failed (status %d: 2 start, 3 accept, 4 stats, "
                      "5 echo)", status);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("netpoll-stress");
        TCase *tc = tcase_create("netpoll-stress");

        tcase_add_test(tc, test_10k_connections_resizing);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
