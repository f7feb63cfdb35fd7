/* SPDX-License-Identifier: MIT */
/*
 * echo-server: a TCP echo server on the embedded runtime, one task per connection, each parked
 * on the netpoller (no thread) while it waits.  The README's library section shows the two
 * task functions.  Usage: echo-server [PORT] (0 = any free port, printed as "listening on PORT").
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <autoprocs.h>

static void echo(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char buf[4096];
        ssize_t n;

        while ((n = autoprocs_read(fd, buf, sizeof(buf), 0)) > 0)
                autoprocs_write(fd, buf, (size_t)n, 0);
        autoprocs_fd_close(fd);
}

static void serve(void *arg)
{
        for (int fd; (fd = autoprocs_accept((int)(intptr_t)arg, NULL, NULL, SOCK_CLOEXEC, 0)) >= 0;)
                autoprocs_spawn(echo, (void *)(intptr_t)fd, NULL);
}

int main(int argc, char **argv)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 7007) };
        socklen_t len = sizeof(a);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        autoprocs_task *t;

        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0 ||
            getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
                perror("echo-server");
                return 1;
        }
        if (autoprocs_init(NULL) < 0 || autoprocs_spawn(serve, (void *)(intptr_t)lfd, &t) < 0) {
                fprintf(stderr, "echo-server: cannot start the runtime\n");
                return 1;
        }
        printf("listening on %u\n", ntohs(a.sin_port));
        fflush(stdout);
        autoprocs_task_join(t); /* serves until killed */
        autoprocs_shutdown();
        return 0;
}
