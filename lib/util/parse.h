/* SPDX-License-Identifier: MIT */
/*
 * Number parsing, in one place.  Strict: the whole string (less one trailing newline, where said)
 * must be the number; no sign where unsigned, no leading spaces, no overflow.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal unsigned 64-bit.  @retval 0  @retval -EINVAL not a number  @retval -ERANGE overflow */
int ap_parse_u64(const char *s, uint64_t *ret);
/* Decimal signed 64-bit. */
int ap_parse_i64(const char *s, int64_t *ret);
/* Decimal unsigned in [min, max]. */
int ap_parse_uint_range(const char *s, unsigned min, unsigned max, unsigned *ret);
/* Like ap_parse_u64 on the first @len bytes of @s (not NUL-terminated). */
int ap_parse_u64_n(const char *s, size_t len, uint64_t *ret);
/* A decimal fraction "1.5", "2", "0.25" as thousandths (millicpus); at most 3 decimals.
 * @retval -EINVAL  @retval -ERANGE */
int ap_parse_milli(const char *s, uint64_t *ret);
/* A duration: "250ms", "1s", "2m", "1.5s", "500us"; a bare number is seconds.  In ns. */
int ap_parse_duration_ns(const char *s, uint64_t *ret);
/* Strip one trailing "\n" in place; returns the new length. */
size_t ap_strip_newline(char *s);

/*
 * Lines of a procfs or cgroupfs file held in memory (not NUL-terminated; the last line may lack
 * its '\n').  Usage:
 *     ApLines it = AP_LINES_INIT(buf, len);
 *     while (ap_lines_next(&it, &line, &line_len)) ...
 */
typedef struct ApLines {
        const char *p, *end;
} ApLines;

#define AP_LINES_INIT(buf, len) ((ApLines){ .p = (buf), .end = (buf) + (len) })

/* The next line, without its '\n', borrowed from the buffer.  @retval false at the end */
bool ap_lines_next(ApLines *it, const char **ret_line, size_t *ret_len);
/* The value of the first line that starts with @key ("Pid:", "btime "), blanks after the key
 * skipped, to the end of the line; NULL when no line has it.  Borrowed from @buf. */
const char *ap_lines_find_value(const char *buf, size_t len, const char *key, size_t *ret_len);
