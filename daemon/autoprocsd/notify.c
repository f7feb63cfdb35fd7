/* SPDX-License-Identifier: MIT */
/*
 * The service manager interface through libsystemd (see notify.h; notify-none.c is the same
 * without it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/uio.h>
#include <unistd.h>

#include "daemon/autoprocsd/notify.h"

int ap_notify(const char *state)
{
        return sd_notify(0, state);
}

int ap_notify_watchdog_usec(uint64_t *ret_usec)
{
        return sd_watchdog_enabled(0, ret_usec);
}

int ap_listen_fds(int **ret_fds, char ***ret_names)
{
        char **names = NULL;
        int *fds;
        int n;

        n = sd_listen_fds_with_names(1, &names);
        if (n <= 0) {
                *ret_fds = NULL;
                *ret_names = NULL;
                return n;
        }
        fds = calloc((size_t)n, sizeof(*fds));
        if (!fds) {
                for (int i = 0; i < n && names; i++)
                        free(names[i]);
                free(names);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                fds[i] = SD_LISTEN_FDS_START + i;
                (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        }
        *ret_fds = fds;
        *ret_names = names;
        return n;
}

int ap_journal_send(int priority, const char *message, const char *const *fields)
{
        static int have_journald = -1;
        struct iovec iov[16];
        char prio[32], msg[2048];
        size_t n = 0;

        /* sd_journal_sendv() reports success even when no journald listens (JOURNAL_STREAM
         * inherited from elsewhere): check for its socket once, and let the caller fall back to
         * plain lines on stderr without it. */
        if (have_journald < 0)
                have_journald = access("/run/systemd/journal/socket", W_OK) == 0;
        if (!have_journald)
                return -ENOTCONN;
        (void)snprintf(msg, sizeof(msg), "MESSAGE=%s", message);
        (void)snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
        iov[n++] = (struct iovec){ msg, strlen(msg) };
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=autoprocsd", 28 };
        for (size_t i = 0; fields && fields[i] && n < sizeof(iov) / sizeof(iov[0]); i++)
                iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
        return sd_journal_sendv(iov, (int)n);
}
