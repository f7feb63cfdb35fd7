/* SPDX-License-Identifier: MIT */
/*
 * The listening sockets of autoprocsd (see http.h); the server itself is http-serve.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/autoprocsd/http.h"
#include "daemon/autoprocsd/log.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"

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
