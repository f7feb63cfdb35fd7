/* SPDX-License-Identifier: MIT */
/*
 * ApWarnings: the "FILE: why" lines every probe appends instead of failing or logging, and the
 * informational notes beside them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/warnings.h"

/* A warning longer than this is cut (a hostile file name must not make it unbounded). */
#define AP_WARNING_MAX 1024

static void append(ApWarnings *w, char ***v, size_t *n, size_t *cap, const char *fmt, va_list ap)
        AP_PRINTF(5, 0);

static void append(ApWarnings *w, char ***v, size_t *n, size_t *cap, const char *fmt, va_list ap)
{
        char *line;

        line = malloc(AP_WARNING_MAX);
        if (!line) {
                w->dropped++;
                return;
        }
        if (vsnprintf(line, AP_WARNING_MAX, fmt, ap) < 0) {
                free(line);
                w->dropped++;
                return;
        }
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 8;
                char **nv = realloc(*v, c * sizeof(*nv));

                if (!nv) {
                        free(line);
                        w->dropped++;
                        return;
                }
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = line;
}

void ap_warnv(ApWarnings *w, const char *fmt, va_list ap)
{
        if (w)
                append(w, &w->v, &w->n, &w->cap, fmt, ap);
}

void ap_warn(ApWarnings *w, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        ap_warnv(w, fmt, ap);
        va_end(ap);
}

void ap_note(ApWarnings *w, const char *fmt, ...)
{
        va_list ap;

        if (!w)
                return;
        va_start(ap, fmt);
        append(w, &w->notes, &w->n_notes, &w->notes_cap, fmt, ap);
        va_end(ap);
}

void ap_warnings_done(ApWarnings *w)
{
        if (!w)
                return;
        for (size_t i = 0; i < w->n; i++)
                free(w->v[i]);
        free(w->v);
        for (size_t i = 0; i < w->n_notes; i++)
                free(w->notes[i]);
        free(w->notes);
        *w = AP_WARNINGS_NULL;
}
