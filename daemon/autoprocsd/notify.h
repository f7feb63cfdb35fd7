/* SPDX-License-Identifier: MIT */
/*
 * The service manager interface of autoprocsd: readiness/status/watchdog notifications, socket
 * activation, journal entries.  Two implementations with the same functions, swapped whole by
 * meson: notify.c (libsystemd) and notify-none.c (the small protocols done by hand: an AF_UNIX
 * datagram to $NOTIFY_SOCKET, $LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES, syslog-prefixed stderr).
 * Callers never test which one is built.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Send @state ("READY=1\nSTATUS=..."): @retval 1 sent  @retval 0 no NOTIFY_SOCKET  @retval -errno */
int ap_notify(const char *state);

/* The watchdog interval the manager asked for (WATCHDOG_USEC, for this pid).
 * @retval 1 enabled (*ret_usec set)  @retval 0 not asked  @retval -errno */
int ap_notify_watchdog_usec(uint64_t *ret_usec);

/*
 * Sockets passed by the manager (LISTEN_FDS for this pid, first fd 3), with their names
 * (FileDescriptorName=, "unknown" when unnamed).  The environment variables are unset and the
 * fds made close-on-exec.  @retval the count (>= 0; *ret_fds and *ret_names malloc'd, names a
 * NULL-terminated strv, both NULL when 0)  @retval -errno
 */
int ap_listen_fds(int **ret_fds, char ***ret_names);

/*
 * One journal entry: MESSAGE=@message, PRIORITY=@priority, SYSLOG_IDENTIFIER=autoprocsd and the
 * "KEY=value" strings of @fields (NULL-terminated; may be NULL).  @retval 0  @retval -errno
 */
int ap_journal_send(int priority, const char *message, const char *const *fields);
