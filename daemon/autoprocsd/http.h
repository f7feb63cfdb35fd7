/* SPDX-License-Identifier: MIT */
/*
 * The HTTP layer of autoprocsd: libmicrohttpd with its internal polling thread on epoll, one
 * server per listening socket.  It knows methods and status codes, not metrics: a route callback
 * produces each body.  GET and HEAD only (HEAD: same headers, no body); any other method gets 405
 * with "Allow: GET, HEAD"; a path the callback does not know gets 404.  Keep-alive works: the
 * answer is queued on the second call of the access handler (0.9.75 closes the connection when
 * one answers on the first).  Limits: 64 connections, 16 per client address, 10 s idle timeout.
 * The callback runs on a server thread and must never block on the runtime.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "daemon/autoprocsd/daemon-config.h"

typedef struct ApHttpReply {
        unsigned status;            /* 200, 503, ... */
        const char *content_type;   /* static */
        char *body;                 /* malloc'd; taken over by the server */
        size_t len;
} ApHttpReply;

/* Answer GET/HEAD @path.  @accept: the Accept header or NULL.
 * @retval 0 (*reply filled)  @retval -ENOENT unknown path (404)  @retval -errno (500) */
typedef int (*ApHttpRouteFn)(const char *path, const char *accept, ApHttpReply *reply, void *userdata);

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
