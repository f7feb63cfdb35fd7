/* SPDX-License-Identifier: MIT */
/*
 * gzip content encoding (see encoding.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "daemon/autoprocsd/encoding.h"

/* The q-value of one coding's parameters (";q=0.5"); 1 without one. */
static double coding_q(const char *params, size_t len)
{
        while (len > 0) {
                const char *semi = memchr(params, ';', len);
                size_t plen = semi ? (size_t)(semi - params) : len;
                size_t i = 0;

                while (i < plen && (params[i] == ' ' || params[i] == '\t'))
                        i++;
                if (plen - i >= 2 && (params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=') {
                        char num[16];
                        size_t n = plen - i - 2 < sizeof(num) - 1 ? plen - i - 2 : sizeof(num) - 1;

                        memcpy(num, params + i + 2, n);
                        num[n] = '\0';
                        return strtod(num, NULL);
                }
                if (!semi)
                        break;
                len -= plen + 1;
                params = semi + 1;
        }
        return 1.0;
}

bool ap_accepts_gzip(const char *value)
{
        double q_gzip = -1, q_any = -1;
        const char *p = value;

        if (!value)
                return false;
        while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                const char *semi = memchr(p, ';', len);
                size_t tlen = semi ? (size_t)(semi - p) : len;
                const char *t = p;
                double q;

                while (tlen > 0 && (*t == ' ' || *t == '\t')) {
                        t++;
                        tlen--;
                }
                while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
                        tlen--;
                q = semi ? coding_q(semi + 1, len - (size_t)(semi - p) - 1) : 1.0;
                if ((tlen == 4 && strncasecmp(t, "gzip", 4) == 0) || (tlen == 6 && strncasecmp(t, "x-gzip", 6) == 0))
                        q_gzip = q > q_gzip ? q : q_gzip;
                else if (tlen == 1 && *t == '*')
                        q_any = q;
                if (!comma)
                        break;
                p = comma + 1;
        }
        return q_gzip >= 0 ? q_gzip > 0 : q_any > 0;
}

int ap_gzip(const char *in, size_t len, char **ret, size_t *ret_len)
{
        z_stream z = { 0 };
        uLong cap;
        char *out;
        int r;

        /* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
        if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        cap = deflateBound(&z, (uLong)len);
        out = malloc(cap);
        if (!out) {
                (void)deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        r = deflate(&z, Z_FINISH);
        *ret_len = z.total_out;
        (void)deflateEnd(&z);
        if (r != Z_STREAM_END) {
                free(out);
                return -EIO;
        }
        *ret = out;
        return 0;
}
