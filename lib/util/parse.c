/* SPDX-License-Identifier: MIT */
/*
 * Number parsing for every module: the probes (cgroup files), the policy knobs (environment,
 * command line) and the daemon's flags.  No locale, no strtoul surprises (leading spaces, signs,
 * "0x"), overflow reported.
 */
#include <errno.h>
#include <string.h>

#include "lib/util/parse.h"

int ap_parse_u64_n(const char *s, size_t len, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || len == 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned d;

                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                d = (unsigned)(s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int ap_parse_u64(const char *s, uint64_t *ret)
{
        if (!s)
                return -EINVAL;
        return ap_parse_u64_n(s, strlen(s), ret);
}

int ap_parse_i64(const char *s, int64_t *ret)
{
        uint64_t v;
        bool neg;
        int r;

        if (!s)
                return -EINVAL;
        neg = s[0] == '-';
        r = ap_parse_u64(neg ? s + 1 : s, &v);
        if (r < 0)
                return r;
        if (neg) {
                if (v > (uint64_t)INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        } else {
                if (v > (uint64_t)INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t)v;
        }
        return 0;
}

int ap_parse_uint_range(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        uint64_t v;
        int r;

        r = ap_parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

int ap_parse_milli(const char *s, uint64_t *ret)
{
        const char *dot;
        uint64_t whole = 0, frac = 0;
        size_t nfrac;
        int r;

        if (!s || !*s)
                return -EINVAL;
        dot = strchr(s, '.');
        if (!dot)
                dot = s + strlen(s);
        if (dot > s) {
                r = ap_parse_u64_n(s, (size_t)(dot - s), &whole);
                if (r < 0)
                        return r;
        }
        if (*dot == '.') {
                nfrac = strlen(dot + 1);
                if (nfrac == 0 && dot == s)
                        return -EINVAL;
                if (nfrac > 3)
                        return -EINVAL;
                if (nfrac > 0) {
                        r = ap_parse_u64_n(dot + 1, nfrac, &frac);
                        if (r < 0)
                                return r;
                        for (size_t i = nfrac; i < 3; i++)
                                frac *= 10;
                }
        }
        if (whole > (UINT64_MAX - frac) / 1000)
                return -ERANGE;
        *ret = whole * 1000 + frac;
        return 0;
}

int ap_parse_duration_ns(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t ns_per_milli; /* ns per 1/1000 of the unit */
        } units[] = {
                { "ns", 0 }, /* handled apart: no fractions of ns */
                { "us", 1 },
                { "ms", 1000 },
                { "s", 1000000 },
                { "m", 60000000 },
        };
        char buf[64];
        size_t len;
        uint64_t milli;
        int r;

        if (!s)
                return -EINVAL;
        len = strlen(s);
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t sl = strlen(units[i].suffix);

                if (len <= sl || strcmp(s + len - sl, units[i].suffix) != 0)
                        continue;
                /* "ms" must not be read as "m" + garbage, nor "us"/"ns" as "s". */
                memcpy(buf, s, len - sl);
                buf[len - sl] = 0;
                if (buf[len - sl - 1] < '0' || buf[len - sl - 1] > '9') {
                        if (buf[len - sl - 1] != '.')
                                continue;
                }
                if (units[i].ns_per_milli == 0)
                        return ap_parse_u64(buf, ret);
                r = ap_parse_milli(buf, &milli);
                if (r < 0)
                        return r;
                if (milli > UINT64_MAX / units[i].ns_per_milli)
                        return -ERANGE;
                *ret = milli * units[i].ns_per_milli;
                return 0;
        }
        r = ap_parse_milli(s, &milli);
        if (r < 0)
                return r;
        if (milli > UINT64_MAX / 1000000)
                return -ERANGE;
        *ret = milli * 1000000;
        return 0;
}

size_t ap_strip_newline(char *s)
{
        size_t len = strlen(s);

        if (len > 0 && s[len - 1] == '\n')
                s[--len] = 0;
        return len;
}

bool ap_lines_next(ApLines *it, const char **ret_line, size_t *ret_len)
{
        const char *nl;

        if (it->p >= it->end)
                return false;
        nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
        *ret_line = it->p;
        *ret_len = nl ? (size_t)(nl - it->p) : (size_t)(it->end - it->p);
        it->p = nl ? nl + 1 : it->end;
        return true;
}

const char *ap_lines_find_value(const char *buf, size_t len, const char *key, size_t *ret_len)
{
        ApLines it = AP_LINES_INIT(buf, len);
        size_t kl = strlen(key), l;
        const char *line;

        while (ap_lines_next(&it, &line, &l)) {
                const char *v = line + kl, *e = line + l;

                if (l < kl || memcmp(line, key, kl) != 0)
                        continue;
                while (v < e && (*v == ' ' || *v == '\t'))
                        v++;
                *ret_len = (size_t)(e - v);
                return v;
        }
        return NULL;
}
