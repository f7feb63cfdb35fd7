/* SPDX-License-Identifier: MIT */
/*
 * HTTP on libmicrohttpd (see http.h).  research/ecosystem.md section 2 has the measured pitfalls
 * of 0.9.75 that shape this file: thread-per-connection cannot be combined with epoll, an answer
 * on the first handler call turns keep-alive off, the external logger must be the first option.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/autoprocsd/http.h"
#include "daemon/autoprocsd/log.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"

#define HTTP_CONNECTION_LIMIT 64u
#define HTTP_PER_IP_LIMIT 16u
#define HTTP_TIMEOUT_S 10u

struct ApHttp {
        struct MHD_Daemon **servers;
        int *fds;
        size_t n;
        ApHttpRouteFn route;
        void *userdata;
};

/* [::]:PORT on a kernel without IPv6 (ipv6.disable=1: socket() says EAFNOSUPPORT): 0.0.0.0:PORT,
 * which is what "every address" means there. */
static int bind_any_ipv4(const ApListenAddr *addr)
{
        ApListenAddr v4 = { .salen = sizeof(struct sockaddr_in) };
        struct sockaddr_in *sin = (struct sockaddr_in *)&v4.sa;

        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = ((const struct sockaddr_in6 *)&addr->sa)->sin6_port;
        return ap_http_bind(&v4);
}

int ap_http_bind(const ApListenAddr *addr)
{
        int fd, one = 1;
        int family = addr->sa.ss_family;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && errno == EAFNOSUPPORT && family == AF_INET6 &&
            IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&addr->sa)->sin6_addr))
                return bind_any_ipv4(addr);
        if (fd < 0)
                return AP_NEG_ERRNO();
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr->sa;
                int v6only = !IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);

                if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
                        goto fail;
        }
        if (bind(fd, (const struct sockaddr *)&addr->sa, addr->salen) < 0 || listen(fd, 128) < 0)
                goto fail;
        return fd;
fail:
        one = AP_NEG_ERRNO();
        (void)close(fd);
        return one;
}

char *ap_http_socket_url(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN], *url = NULL;
        unsigned port;

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return NULL;
        if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

                if (!inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)))
                        return NULL;
                port = ntohs(sin->sin_port);
                if (asprintf(&url, "http://%s:%u", host, port) < 0)
                        return NULL;
        } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

                if (!inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)))
                        return NULL;
                port = ntohs(sin6->sin6_port);
                if (asprintf(&url, "http://[%s]:%u", host, port) < 0)
                        return NULL;
        }
        return url;
}

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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        static int first_call_seen;
        ApHttp *h = cls;
        ApHttpReply reply = { 0 };
        const char *accept;
        int r;

        (void)version;
        (void)upload_data;
        /* First call: headers only.  Answering now would make 0.9.75 close the connection. */
        if (!*con_cls) {
                *con_cls = &first_call_seen;
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
        r = h->route(url, accept, &reply, h->userdata);
        if (r == -ENOENT)
                return queue_static(conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "http", NULL, "answering %s failed: %s", url, strerror(-r));
                return queue_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", false);
        }
        return queue_text(conn, reply.status, reply.content_type, reply.body, reply.len, false);
}

ApHttp *ap_http_free(ApHttp *h)
{
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++) {
                if (h->servers[i])
                        MHD_stop_daemon(h->servers[i]);
                if (h->fds[i] >= 0)
                        (void)close(h->fds[i]);
        }
        free(h->servers);
        free(h->fds);
        free(h);
        return NULL;
}

int ap_http_start(const int *fds, size_t n_fds, ApHttpRouteFn route, void *userdata, ApHttp **ret)
{
        ApHttp *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->servers = calloc(n_fds, sizeof(*h->servers));
        h->fds = calloc(n_fds, sizeof(*h->fds));
        if (!h->servers || !h->fds) {
                free(h->servers);
                free(h->fds);
                free(h);
                return -ENOMEM;
        }
        h->route = route;
        h->userdata = userdata;
        for (size_t i = 0; i < n_fds; i++) {
                h->servers[i] = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
                        NULL, NULL, on_request, h,
                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                        MHD_OPTION_LISTEN_SOCKET, fds[i],
                        MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTION_LIMIT,
                        MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_PER_IP_LIMIT,
                        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S,
                        MHD_OPTION_END);
                if (!h->servers[i]) {
                        /* The fds are the caller's until we return 0: stop without closing. */
                        for (size_t j = 0; j < i; j++) {
                                /* MHD_quiesce first so that stopping does not close fds[j]. */
                                (void)MHD_quiesce_daemon(h->servers[j]);
                                MHD_stop_daemon(h->servers[j]);
                        }
                        free(h->servers);
                        free(h->fds);
                        free(h);
                        return -EIO;
                }
                h->fds[i] = -1; /* MHD closes a socket it was given when it stops */
        }
        h->n = n_fds;
        *ret = h;
        return 0;
}
