/* SPDX-License-Identifier: MIT */
/*
 * ApBuf and JSON output (json.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/json.h"

static bool reserve(ApBuf *b, size_t extra)
{
        size_t cap;
        char *s;

        if (b->failed)
                return false;
        if (b->len + extra + 1 <= b->cap)
                return true;
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1) {
                if (cap > SIZE_MAX / 2) {
                        b->failed = true;
                        return false;
                }
                cap *= 2;
        }
        s = realloc(b->s, cap);
        if (!s) {
                b->failed = true;
                return false;
        }
        b->s = s;
        b->cap = cap;
        return true;
}

void ap_buf_append(ApBuf *b, const char *s, size_t len)
{
        if (!reserve(b, len))
                return;
        memcpy(b->s + b->len, s, len);
        b->len += len;
        b->s[b->len] = 0;
}

void ap_buf_puts(ApBuf *b, const char *s)
{
        ap_buf_append(b, s, strlen(s));
}

void ap_buf_printf(ApBuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->failed = true;
                return;
        }
        if (!reserve(b, (size_t)n))
                return;
        va_start(ap, fmt);
        (void)vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at @s (of @left bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
        size_t n;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (left < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* No overlong forms, no surrogates, nothing above U+10FFFF. */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

void ap_buf_json_string(ApBuf *b, const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;

        ap_buf_append(b, "\"", 1);
        for (size_t i = 0; i < len;) {
                unsigned char c = s[i];
                size_t n;

                if (c == '"' || c == '\\') {
                        char e[2] = { '\\', (char)c };

                        ap_buf_append(b, e, 2);
                        i++;
                } else if (c == '\n') {
                        ap_buf_append(b, "\\n", 2);
                        i++;
                } else if (c == '\t') {
                        ap_buf_append(b, "\\t", 2);
                        i++;
                } else if (c < 0x20 || c == 0x7f) {
                        ap_buf_printf(b, "\\u%04x", c);
                        i++;
                } else if ((n = utf8_len(s + i, len - i)) > 0) {
                        ap_buf_append(b, (const char *)s + i, n);
                        i += n;
                } else {
                        ap_buf_printf(b, "\\u%04x", c);
                        i++;
                }
        }
        ap_buf_append(b, "\"", 1);
}

void ap_buf_json_string_or_null(ApBuf *b, const char *s)
{
        if (s)
                ap_buf_json_string(b, s, strlen(s));
        else
                ap_buf_puts(b, "null");
}

void ap_buf_decimal(ApBuf *b, uint64_t num, uint64_t den, unsigned decimals)
{
        unsigned __int128 scale = 1, v;
        uint64_t whole;
        unsigned long long frac;
        char fbuf[16];
        int fl;

        if (den == 0) {
                ap_buf_puts(b, "0");
                return;
        }
        if (decimals > 9)
                decimals = 9;
        for (unsigned i = 0; i < decimals; i++)
                scale *= 10;
        /* Round half up: (num * scale + den / 2) / den, in 128 bits. */
        v = ((unsigned __int128)num * scale + den / 2) / den;
        whole = (uint64_t)(v / scale);
        frac = (unsigned long long)(v % scale);
        ap_buf_printf(b, "%llu", (unsigned long long)whole);
        if (decimals == 0 || frac == 0)
                return;
        fl = snprintf(fbuf, sizeof(fbuf), "%0*llu", (int)decimals, frac);
        while (fl > 0 && fbuf[fl - 1] == '0')
                fbuf[--fl] = 0;
        ap_buf_printf(b, ".%s", fbuf);
}

int ap_buf_steal(ApBuf *b, char **ret)
{
        if (!reserve(b, 0)) {
                ap_buf_done(b);
                return -ENOMEM;
        }
        b->s[b->len] = 0;
        *ret = b->s;
        *b = AP_BUF_NULL;
        return 0;
}

void ap_buf_done(ApBuf *b)
{
        free(b->s);
        *b = AP_BUF_NULL;
}
