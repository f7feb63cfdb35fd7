/* SPDX-License-Identifier: MIT */
/*
 * The HTTP layer of autoprocsd: libmicrohttpd in external epoll mode driven by tasks of the
 * embedded runtime (http-serve.c), so that all of the daemon's work runs on the processors it
 * sizes.  It knows methods and status codes, not metrics: a route callback produces each body.
 * GET and HEAD only (HEAD: same headers, no body); any other method gets 405 with
 * "Allow: GET, HEAD"; a path the callback does not know gets 404; a request target with "%00",
 * an HTTP/1.1 request without Host, or a request line that is not one (binary bytes, a NUL)
 * gets 400 and the connection is closed.  Keep-alive works: the answer is queued on the second
 * call of the access handler (0.9.75 closes the connection when one answers on the first).
 * Slow and idle clients (http-conns.h): a request's headers must be complete 5 s after the
 * connection (or 10 s after the previous answer, keep-alive), an answer sent within 10 s, and
 * libmicrohttpd's own 10 s silence timeout stays; up to 4096 connections (fewer when the fd
 * limit, raised to its hard value, is lower), a quarter of them per client address, and a full
 * table or address makes room by closing its oldest waiting connection.  The callback runs in a
 * runtime task and must not block for long.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "daemon/autoprocsd/daemon-config.h"

typedef struct ApHttpReply {
        unsigned status;            /* 200, 503, ... */
        const char *content_type;   /* static */
        char *body;                 /* malloc'd; taken over by the server */
        size_t len;
        const char *content_encoding; /* static ("gzip"), NULL = identity */
        bool vary_encoding;         /* the answer depends on Accept-Encoding ("Vary") */
} ApHttpReply;

/* Answer GET/HEAD @path.  @accept, @accept_encoding: those headers or NULL.
 * @retval 0 (*reply filled)  @retval -ENOENT unknown path (404)  @retval -errno (500) */
typedef int (*ApHttpRouteFn)(const char *path, const char *accept, const char *accept_encoding,
                             ApHttpReply *reply, void *userdata);

typedef struct ApHttp ApHttp;

/*
 * Bind and listen on @addr (SO_REUSEADDR; an IPv6 wildcard [::] is dual-stack, serving IPv4 too;
 * other IPv6 addresses are IPv6-only; on a kernel without IPv6, [::] binds 0.0.0.0 instead: the
 * caller sees it in getsockname).  @retval fd  @retval -errno
 */
int ap_http_bind(const ApListenAddr *addr);

/* "http://ADDR:PORT" of a bound socket (the real port when 0 was asked).  malloc'd or NULL. */
char *ap_http_socket_url(int fd);

/* Serve on the listening sockets @fds (taken over: closed by ap_http_free()).
 * @retval 0  @retval -errno (nothing started; the fds are still the caller's) */
int ap_http_start(const int *fds, size_t n_fds, ApHttpRouteFn route, void *userdata, ApHttp **ret);

/* Stop every server thread and close the sockets.  Accepts NULL. */
ApHttp *ap_http_free(ApHttp *h);
