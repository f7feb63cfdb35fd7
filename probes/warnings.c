/* SPDX-License-Identifier: MIT */
/*
 * ApWarnings: the "FILE: why" lines every probe appends instead of failing or logging.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/warnings.h"

/* A warning longer than this is cut (a hostile file name must not make it unbounded). */
#define AP_WARNING_MAX 1024

void ap_warnv(ApWarnings *w, const char *fmt, va_list ap)
{
        char *line;
        int n;

        if (!w)
                return;
        line = malloc(AP_WARNING_MAX);
        if (!line) {
                w->dropped++;
                return;
        }
        n = vsnprintf(line, AP_WARNING_MAX, fmt, ap);
        if (n < 0) {
                free(line);
                w->dropped++;
                return;
        }
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 8;
                char **v = realloc(w->v, cap * sizeof(*v));

                if (!v) {
                        free(line);
                        w->dropped++;
                        return;
                }
                w->v = v;
                w->cap = cap;
        }
        w->v[w->n++] = line;
}

void ap_warn(ApWarnings *w, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        ap_warnv(w, fmt, ap);
        va_end(ap);
}

void ap_warnings_done(ApWarnings *w)
{
        if (!w)
                return;
        for (size_t i = 0; i < w->n; i++)
                free(w->v[i]);
        free(w->v);
        *w = AP_WARNINGS_NULL;
}
