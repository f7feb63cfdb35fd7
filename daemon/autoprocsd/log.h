/* SPDX-License-Identifier: MIT */
/*
 * autoprocsd's logging: one line per real event (limit changed, resize, target lost/found),
 * never one per tick.  Plain "autoprocsd: LEVEL: message" lines on stderr, or journald entries
 * with structured fields (AUTOPROCS_EVENT=, AUTOPROCS_TARGET=, ...) when stderr is connected to
 * the journal (JOURNAL_STREAM names stderr's device and inode).  Thread-safe: each entry is one
 * write.
 */
#pragma once

#include <stdbool.h>

#include "autoprocs.h"
#include "lib/util/macro.h"

/* Entries above @level (syslog numbering: ERR 3 .. DEBUG 7) are dropped.  Default INFO. */
void ap_daemon_log_set_level(autoprocs_log_level level);
autoprocs_log_level ap_daemon_log_get_level(void);
/* "err", "warning", "notice", "info", "debug".  @retval 0  @retval -EINVAL */
int ap_daemon_log_level_from_string(const char *s, autoprocs_log_level *ret);

/* Decide the sink: journald when JOURNAL_STREAM matches stderr (call once at start). */
void ap_daemon_log_open(void);
bool ap_daemon_log_to_journal(void);

/*
 * Log one event.  @event: a stable identifier ("listening", "target-lost", "resize", ...), sent
 * to the journal as AUTOPROCS_EVENT=; @target: NULL or the target label (AUTOPROCS_TARGET=).
 */
void ap_daemon_log(autoprocs_log_level level, const char *event, const char *target, const char *fmt, ...)
        AP_PRINTF(4, 5);

/* An autoprocs_log_fn for the library's events (autoprocs_init()). */
void ap_daemon_log_library(autoprocs_log_level level, const char *event, const char *message,
                    void *userdata);
