/* SPDX-License-Identifier: MIT */
/*
 * The service manager interface without libsystemd (see notify.h): the protocols are small and
 * documented in sd_notify(3), sd_listen_fds(3) and sd_watchdog_enabled(3), so this file speaks
 * them itself.  Journal entries become "<PRIORITY>message" lines on stderr, which journald's
 * stream reader turns into the entry's priority (SyslogLevelPrefix=yes is the default).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/autoprocsd/notify.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"

#define LISTEN_FDS_START 3

int ap_notify(const char *state)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        socklen_t salen;
        size_t len;

        if (!path || !*path)
                return 0;
        len = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0'; /* abstract namespace: no trailing NUL in the length */
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return AP_NEG_ERRNO();
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
                return AP_NEG_ERRNO();
        return 1;
}

/* $NAME_PID, when set, must be our pid (the variables are meant for one process only). */
static int pid_matches(const char *var)
{
        const char *s = getenv(var);
        unsigned pid;

        if (!s)
                return -1;
        if (ap_parse_uint_range(s, 1, (unsigned)-1, &pid) < 0)
                return 0;
        return (pid_t)pid == getpid();
}

int ap_notify_watchdog_usec(uint64_t *ret_usec)
{
        const char *s = getenv("WATCHDOG_USEC");
        uint64_t usec;

        if (!s)
                return 0;
        if (ap_parse_u64(s, &usec) < 0 || usec == 0)
                return -EINVAL;
        if (pid_matches("WATCHDOG_PID") == 0)
                return 0;
        *ret_usec = usec;
        return 1;
}

int ap_listen_fds(int **ret_fds, char ***ret_names)
{
        const char *s = getenv("LISTEN_FDS"), *names_env = getenv("LISTEN_FDNAMES");
        char **names = NULL;
        int *fds = NULL;
        unsigned n = 0;
        int r = 0;

        *ret_fds = NULL;
        *ret_names = NULL;
        if (!s || pid_matches("LISTEN_PID") != 1)
                goto out;
        if (ap_parse_uint_range(s, 0, 1024, &n) < 0) {
                r = -EINVAL;
                goto out;
        }
        if (n == 0)
                goto out;
        fds = calloc(n, sizeof(*fds));
        names = calloc(n + 1, sizeof(*names));
        if (!fds || !names) {
                r = -ENOMEM;
                goto fail;
        }
        for (unsigned i = 0; i < n; i++) {
                const char *name = "unknown";
                size_t len = 7;

                /* LISTEN_FDNAMES: colon-separated, one per fd, in order. */
                if (names_env && *names_env) {
                        const char *colon = strchr(names_env, ':');

                        name = names_env;
                        len = colon ? (size_t)(colon - names_env) : strlen(names_env);
                        names_env = colon ? colon + 1 : names_env + len;
                }
                names[i] = strndup(name, len);
                if (!names[i]) {
                        r = -ENOMEM;
                        goto fail;
                }
                fds[i] = LISTEN_FDS_START + (int)i;
                if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
                        r = AP_NEG_ERRNO();
                        goto fail;
                }
        }
        *ret_fds = fds;
        *ret_names = names;
        r = (int)n;
        goto out;
fail:
        for (unsigned i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
        free(fds);
out:
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
        return r;
}

int ap_journal_send(int priority, const char *message, const char *const *fields)
{
        char line[2048];
        int n;

        (void)fields; /* a stream entry has no fields of its own */
        n = snprintf(line, sizeof(line), "<%d>%s\n", priority, message);
        if (n < 0)
                return -EIO;
        if ((size_t)n >= sizeof(line))
                n = sizeof(line) - 1;
        if (write(STDERR_FILENO, line, (size_t)n) < 0)
                return AP_NEG_ERRNO();
        return 0;
}
