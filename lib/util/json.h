/* SPDX-License-Identifier: MIT */
/*
 * A growable string and JSON output helpers (no locale: numbers are formatted by hand, so a
 * program that called setlocale(LC_NUMERIC, "de_DE") still gets "1.5", not "1,5").
 * Errors are sticky: after an allocation failure every append is a no-op and ap_buf_steal()
 * returns -ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/macro.h"

typedef struct ApBuf {
        char *s;
        size_t len, cap;
        bool failed;
} ApBuf;

#define AP_BUF_NULL ((ApBuf){ 0 })

void ap_buf_append(ApBuf *b, const char *s, size_t len);
void ap_buf_puts(ApBuf *b, const char *s);
void ap_buf_printf(ApBuf *b, const char *fmt, ...) AP_PRINTF(2, 3);
/* A JSON string literal (quotes included) for @len bytes of @s: '"', '\\' and control bytes
 * escaped; valid UTF-8 passes through; every byte of an invalid UTF-8 sequence becomes \u00XX
 * (so any input gives valid JSON). */
void ap_buf_json_string(ApBuf *b, const char *s, size_t len);
/* JSON string or null for a NUL-terminated @s (NULL = null). */
void ap_buf_json_string_or_null(ApBuf *b, const char *s);
/* The decimal @num / @den rounded half-up to @decimals places (<= 9), trailing zeros dropped
 * ("1.5", "2", "0.333333").  @den 0 prints 0. */
void ap_buf_decimal(ApBuf *b, uint64_t num, uint64_t den, unsigned decimals);
/* Take the string (NUL-terminated; "" when empty).  @retval 0  @retval -ENOMEM */
int ap_buf_steal(ApBuf *b, char **ret);
void ap_buf_done(ApBuf *b);
