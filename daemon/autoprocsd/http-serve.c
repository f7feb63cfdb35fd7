/* SPDX-License-Identifier: MIT */
/*
 * autoprocsd's HTTP server on the embedded runtime (see http.h): libmicrohttpd in external
 * epoll mode without a thread of its own, driven by runtime tasks on the netpoller.
 *
 *   server task    waits on libmicrohttpd's epoll fd (autoprocs_fd_wait, with the deadline
 *                  MHD_get_timeout gives, at most 200 ms), then MHD_run; sweeps the deadlines of
 *                  the connection table (http-conns.c);
 *   accept tasks   one per listening socket: autoprocs_accept, admission into the table (which
 *                  may shut older waiting connections down), then a sniff task per connection;
 *   sniff tasks    wait (parked on the poller, no thread) for the request line, check it
 *                  (garbage, a NUL or a control byte is answered 400 at once) and only then
 *                  hand the connection to libmicrohttpd (MHD_add_connection): idle and slow
 *                  connections never reach it.
 * One runtime mutex serialises libmicrohttpd and the table; its callbacks run under it.  Every
 * wait is bounded by 200 ms so that ap_http_free() stops everything within about that.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/autoprocsd/http-conns.h"
#include "daemon/autoprocsd/http.h"
#include "daemon/autoprocsd/log.h"
#include "lib/util/macro.h"

#define MS 1000000ull
#define SLICE_NS (200 * MS)                  /* longest wait: the stop latency */
#define HEADER_NS (5000 * MS)
#define ANSWER_NS (10000 * MS)
#define IDLE_NS (10000 * MS)
#define SILENCE_S 10u                        /* libmicrohttpd's own inactivity timeout */
#define SNIFF_MAX 8192u                      /* longest request line */
#define CONNS_MIN 64u
#define CONNS_MAX 4096u
#define FDS_RESERVED 256u                    /* for targets, logs, /proc */

struct ApHttp {
        struct MHD_Daemon *mhd;
        int mhd_epfd;
        int *fds;
        size_t n;
        ApHttpRouteFn route;
        void *userdata;
        autoprocs_mutex *lock;
        autoprocs_wg *tasks;
        ApConnTable *conns;
        ApConn *adding;             /* handed to the STARTED notification (under lock) */
        _Atomic bool stopping;
};

typedef struct Pending {
        ApHttp *h;
        ApConn *conn;
        int fd;
        struct sockaddr_storage addr;
        socklen_t addrlen;
} Pending;

/* Markers in *con_cls: the URI log callback sets the first, the first handler call the second. */
static char mark_new, mark_bad_uri, mark_seen;

/* libmicrohttpd hands its own printf-style format here; clang cannot see that through the
 * callback pointer, so the format check is off for this one function. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        size_t n;

        (void)cls;
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = '\0';
        /* libmicrohttpd reports client misbehaviour here too: not worth more than debug. */
        ap_daemon_log(AUTOPROCS_LOG_DEBUG, "http", NULL, "libmicrohttpd: %s", msg);
}
#pragma GCC diagnostic pop

static enum MHD_Result queue_reply(struct MHD_Connection *conn, const ApHttpReply *reply)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(reply->body);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
        if (reply->content_encoding)
                (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, reply->content_encoding);
        if (reply->vary_encoding)
                (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        ret = MHD_queue_response(conn, reply->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *ctype,
                                  char *body, size_t len, bool allow)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (allow)
                (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_static(struct MHD_Connection *conn, unsigned status, const char *text,
                                    bool allow)
{
        char *body = strdup(text);

        if (!body)
                return MHD_NO;
        return queue_text(conn, status, "text/plain; charset=utf-8", body, strlen(body), allow);
}

static ApConn *conn_of(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

/* The raw request target, before libmicrohttpd unescapes it: "%00" would end the path early
 * ("/metrics%00" read as "/metrics"). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
        (void)cls;
        (void)c;
        for (const char *p = uri; (p = strchr(p, '%')); p++)
                if (p[1] == '0' && p[2] == '0')
                        return &mark_bad_uri;
        return &mark_new;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        ApHttp *h = cls;
        ApHttpReply reply = { 0 };
        const char *accept, *accept_encoding;
        int r;

        (void)upload_data;
        if (*con_cls == &mark_new || *con_cls == &mark_bad_uri || !*con_cls) {
                ApConn *c = conn_of(conn);

                if (c)
                        ap_conns_set_phase(h->conns, c, AP_CONN_ANSWER, autoprocs_now_ns());
                /* a bad request is answered now (closing the connection is right for it) */
                if (*con_cls == &mark_bad_uri)
                        return queue_static(conn, MHD_HTTP_BAD_REQUEST,
                                            "bad request: NUL in the request target\n", false);
                if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
                    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
                        return queue_static(conn, MHD_HTTP_BAD_REQUEST,
                                            "bad request: HTTP/1.1 without Host\n", false);
                /* Headers only.  Answering a good request now would make 0.9.75 close the
                 * connection: keep-alive needs the answer on the second call. */
                *con_cls = &mark_seen;
                return MHD_YES;
        }
        /* A request body (of a POST, say) is read and dropped before the 405. */
        if (*upload_data_size > 0) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return queue_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", true);

        accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
        accept_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        r = h->route(url, accept, accept_encoding, &reply, h->userdata);
        if (r == -ENOENT)
                return queue_static(conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "http", NULL, "answering %s failed: %s", url, strerror(-r));
                return queue_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", false);
        }
        return queue_reply(conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        ApHttp *h = cls;
        ApConn *c = conn_of(conn);

        (void)toe;
        *con_cls = NULL;
        if (c)
                ap_conns_set_phase(h->conns, c, AP_CONN_IDLE, autoprocs_now_ns());
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
        ApHttp *h = cls;

        (void)conn;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                *socket_context = h->adding;
                h->adding = NULL;
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
                ap_conns_remove(h->conns, *socket_context);
                *socket_context = NULL;
        }
}

/* ---- tasks --------------------------------------------------------------------------------- */

static uint64_t min_deadline(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

static void server_task(void *arg)
{
        ApHttp *h = arg;

        while (!atomic_load(&h->stopping)) {
                MHD_UNSIGNED_LONG_LONG ms = 0;
                uint64_t now, deadline;
                int r;

                autoprocs_mutex_lock(h->lock);
                (void)MHD_run(h->mhd);
                now = autoprocs_now_ns();
                deadline = min_deadline(ap_conns_sweep(h->conns, now), now + SLICE_NS);
                if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
                        deadline = min_deadline(deadline, now + (uint64_t)ms * MS);
                autoprocs_mutex_unlock(h->lock);
                if (deadline <= now)
                        continue;
                r = autoprocs_fd_wait(h->mhd_epfd, AUTOPROCS_FD_READ, deadline);
                if (r < 0 && r != -ETIMEDOUT) {
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "http", NULL, "waiting on the HTTP "
                                      "server: %s", strerror(-r));
                        autoprocs_sleep_ns(SLICE_NS);
                }
        }
        autoprocs_wg_done(h->tasks);
}

static void pending_close(Pending *p)
{
        autoprocs_mutex_lock(p->h->lock);
        ap_conns_remove(p->h->conns, p->conn);
        autoprocs_mutex_unlock(p->h->lock);
        (void)autoprocs_fd_close(p->fd);
}

static void answer_and_close(Pending *p, const char *status_line)
{
        char buf[256];
        int n = snprintf(buf, sizeof(buf),
                         "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                         status_line, strlen(status_line) + 1, status_line);

        (void)autoprocs_send(p->fd, buf, (size_t)n, 0, autoprocs_now_ns() + SLICE_NS);
        pending_close(p);
}

/* Hand the connection to libmicrohttpd (under the lock). */
static void hand_over(Pending *p)
{
        ApHttp *h = p->h;

        autoprocs_mutex_lock(h->lock);
        if (ap_conn_is_shut(p->conn) || atomic_load(&h->stopping)) {
                autoprocs_mutex_unlock(h->lock);
                pending_close(p);
                return;
        }
        ap_conns_set_phase(h->conns, p->conn, AP_CONN_HEADERS, autoprocs_now_ns());
        /* libmicrohttpd closes it itself: the netpoller must forget it first */
        (void)autoprocs_fd_release(p->fd);
        h->adding = p->conn;
        if (MHD_add_connection(h->mhd, p->fd, (const struct sockaddr *)&p->addr, p->addrlen) !=
            MHD_YES) {
                /* the socket is closed by libmicrohttpd in any case */
                if (h->adding)
                        ap_conns_remove(h->conns, p->conn);
                h->adding = NULL;
        } else {
                (void)MHD_run(h->mhd); /* its request line is there already */
        }
        autoprocs_mutex_unlock(h->lock);
}

static void sniff_task(void *arg)
{
        Pending *p = arg;
        ApHttp *h = p->h;
        uint64_t until = autoprocs_now_ns() + HEADER_NS;
        char buf[SNIFF_MAX];

        for (;;) {
                ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
                ApSniff v;
                int r;

                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                        pending_close(p); /* gone, or shut down by the table */
                        break;
                }
                v = n > 0 ? ap_http_sniff(buf, (size_t)n, sizeof(buf)) : AP_SNIFF_MORE;
                if (v == AP_SNIFF_OK) {
                        hand_over(p);
                        break;
                }
                if (v == AP_SNIFF_BAD) {
                        answer_and_close(p, "400 Bad Request");
                        break;
                }
                if (v == AP_SNIFF_TOO_LONG) {
                        answer_and_close(p, "414 URI Too Long");
                        break;
                }
                if (atomic_load(&h->stopping)) {
                        pending_close(p);
                        break;
                }
                r = autoprocs_fd_wait(p->fd, AUTOPROCS_FD_READ,
                                      min_deadline(until, autoprocs_now_ns() + SLICE_NS));
                if (r == -ETIMEDOUT && autoprocs_now_ns() < until)
                        continue;
                if (r < 0) {
                        pending_close(p); /* the whole request line took too long */
                        break;
                }
        }
        free(p);
        autoprocs_wg_done(h->tasks);
}

typedef struct Acceptor {
        ApHttp *h;
        int fd;
} Acceptor;

static void accept_task(void *arg)
{
        Acceptor *a = arg;
        ApHttp *h = a->h;

        while (!atomic_load(&h->stopping)) {
                Pending *p = calloc(1, sizeof(*p));
                int fd;

                if (!p) {
                        autoprocs_sleep_ns(10 * MS);
                        continue;
                }
                p->h = h;
                p->addrlen = sizeof(p->addr);
                fd = autoprocs_accept(a->fd, (struct sockaddr *)&p->addr, &p->addrlen, SOCK_CLOEXEC,
                                      autoprocs_now_ns() + SLICE_NS);
                if (fd < 0) {
                        free(p);
                        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
                                autoprocs_sleep_ns(10 * MS); /* out of fds: let some close */
                        else if (fd != -ETIMEDOUT && fd != -ECONNABORTED && fd != -EINTR)
                                ap_daemon_log(AUTOPROCS_LOG_DEBUG, "http", NULL, "accept: %s",
                                              strerror(-fd));
                        continue;
                }
                p->fd = fd;
                autoprocs_mutex_lock(h->lock);
                p->conn = ap_conns_admit(h->conns, fd, (struct sockaddr *)&p->addr, p->addrlen,
                                         autoprocs_now_ns());
                autoprocs_mutex_unlock(h->lock);
                if (!p->conn) {
                        (void)autoprocs_fd_close(fd);
                        free(p);
                        continue;
                }
                autoprocs_wg_add(h->tasks, 1);
                if (autoprocs_spawn(sniff_task, p, NULL) < 0) {
                        autoprocs_wg_done(h->tasks);
                        pending_close(p);
                        free(p);
                }
        }
        free(a);
        autoprocs_wg_done(h->tasks);
}

/* ---- start / stop -------------------------------------------------------------------------- */

/* The soft fd limit raised to the hard one; the connection table sized to what it allows. */
static unsigned conns_for_fds(void)
{
        struct rlimit rl;
        rlim_t n;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return CONNS_MIN;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1u << 20 : rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        n = rl.rlim_cur > FDS_RESERVED ? rl.rlim_cur - FDS_RESERVED : 0;
        return (unsigned)AP_MAX(AP_MIN(n, (rlim_t)CONNS_MAX), (rlim_t)CONNS_MIN);
}

ApHttp *ap_http_free(ApHttp *h)
{
        if (!h)
                return NULL;
        atomic_store(&h->stopping, true);
        if (h->tasks) {
                if (h->lock && h->conns) {
                        autoprocs_mutex_lock(h->lock);
                        ap_conns_shutdown_all(h->conns);
                        autoprocs_mutex_unlock(h->lock);
                }
                autoprocs_wg_wait(h->tasks);
        }
        if (h->mhd) {
                (void)autoprocs_fd_release(h->mhd_epfd);
                MHD_stop_daemon(h->mhd);
        }
        for (size_t i = 0; i < h->n; i++)
                if (h->fds[i] >= 0)
                        (void)autoprocs_fd_close(h->fds[i]);
        h->conns = ap_conns_free(h->conns);
        autoprocs_wg_free(h->tasks);
        autoprocs_mutex_free(h->lock);
        free(h->fds);
        free(h);
        return NULL;
}

static int servers_start(ApHttp *h, unsigned max_conns)
{
        const union MHD_DaemonInfo *di;

        h->mhd = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0,
                NULL, NULL, on_request, h,
                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                /* the table admits; evicted connections close a moment later */
                MHD_OPTION_CONNECTION_LIMIT, 2 * max_conns + 64,
                MHD_OPTION_CONNECTION_TIMEOUT, SILENCE_S,
                MHD_OPTION_END);
        if (!h->mhd)
                return -EIO;
        di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!di)
                return -EIO;
        h->mhd_epfd = di->epoll_fd;
        return 0;
}

static int tasks_start(ApHttp *h)
{
        int r;

        autoprocs_wg_add(h->tasks, 1);
        r = autoprocs_spawn(server_task, h, NULL);
        if (r < 0) {
                autoprocs_wg_done(h->tasks);
                return r;
        }
        for (size_t i = 0; i < h->n; i++) {
                Acceptor *a = malloc(sizeof(*a));

                if (!a)
                        return -ENOMEM;
                *a = (Acceptor){ .h = h, .fd = h->fds[i] };
                autoprocs_wg_add(h->tasks, 1);
                r = autoprocs_spawn(accept_task, a, NULL);
                if (r < 0) {
                        free(a);
                        autoprocs_wg_done(h->tasks);
                        return r;
                }
        }
        return 0;
}

int ap_http_start(const int *fds, size_t n_fds, ApHttpRouteFn route, void *userdata, ApHttp **ret)
{
        unsigned max_conns = conns_for_fds();
        ApConnLimits limits = {
                .max_conns = max_conns,
                .max_per_peer = AP_MAX(max_conns / 4, 8u),
                .header_ns = HEADER_NS,
                .answer_ns = ANSWER_NS,
                .idle_ns = IDLE_NS,
        };
        ApHttp *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return -ENOMEM;
        h->route = route;
        h->userdata = userdata;
        h->mhd_epfd = -1;
        h->fds = calloc(n_fds, sizeof(*h->fds));
        r = h->fds ? 0 : -ENOMEM;
        if (r == 0)
                r = ap_conns_new(&limits, &h->conns);
        if (r == 0)
                r = autoprocs_mutex_new(&h->lock);
        if (r == 0)
                r = autoprocs_wg_new(&h->tasks);
        if (r == 0)
                r = servers_start(h, max_conns);
        if (r < 0) {
                free(h->fds);
                h->fds = NULL;
                h->n = 0;
                h->tasks = autoprocs_wg_free(h->tasks);
                ap_http_free(h);
                return r;
        }
        /* the fds are ours from here on */
        memcpy(h->fds, fds, n_fds * sizeof(*fds));
        h->n = n_fds;
        r = tasks_start(h);
        if (r < 0) {
                ap_http_free(h);
                return r;
        }
        ap_daemon_log(AUTOPROCS_LOG_DEBUG, "http", NULL, "serving on the runtime: %u connections, "
                      "%u per address, %llu s for a request's headers",
                      limits.max_conns, limits.max_per_peer,
                      (unsigned long long)(HEADER_NS / 1000000000ull));
        *ret = h;
        return 0;
}
