/* SPDX-License-Identifier: MIT */
/*
 * Probe warnings (warnings.c): the "FILE: why" lines that probes append instead of logging, and
 * the informational notes beside them.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "lib/util/macro.h"

/*
 * Warnings: "FILE: why" lines, appended by probes and by detect.c, for files that are missing,
 * unreadable or malformed.  Notes: informational lines on how a fact was found (a cgroup found
 * by its cgroup.procs below a "/.." mount root), which are no fault.  Never fails: on ENOMEM a
 * line is dropped and ->dropped counts it.
 */
typedef struct ApWarnings {
        char **v;
        size_t n, cap;
        size_t dropped;
        char **notes;
        size_t n_notes, notes_cap;
} ApWarnings;

#define AP_WARNINGS_NULL ((ApWarnings){ 0 })

/* Append one formatted line; @w may be NULL (the warning is discarded). */
void ap_warn(ApWarnings *w, const char *fmt, ...) AP_PRINTF(2, 3);
void ap_warnv(ApWarnings *w, const char *fmt, va_list ap) AP_PRINTF(2, 0);
/* Append one formatted note (same rules). */
void ap_note(ApWarnings *w, const char *fmt, ...) AP_PRINTF(2, 3);
void ap_warnings_done(ApWarnings *w);
