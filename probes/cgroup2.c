/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 cpu.max: "$MAX $PERIOD" (Documentation/admin-guide/cgroup-v2.rst, "cpu.max": "max"
 * for no limit; the kernel always prints both fields).  A one-field file is read as automaxprocs
 * does: the period is then the default 100000 µs.
 */
#include <errno.h>
#include <string.h>

#include "lib/util/parse.h"
#include "probes/cgroup2.h"

#define AP_DEFAULT_PERIOD_US 100000u

int ap_cpu_max_parse(const char *buf, size_t len, ApCpuMax *ret)
{
        const char *sp;
        size_t l1;
        uint64_t q = 0, p = AP_DEFAULT_PERIOD_US;
        bool max;
        int r;

        if (!buf || !ret)
                return -EINVAL;
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len == 0 || memchr(buf, 0, len))
                return -EINVAL;
        sp = memchr(buf, ' ', len);
        l1 = sp ? (size_t)(sp - buf) : len;
        max = l1 == 3 && memcmp(buf, "max", 3) == 0;
        if (!max) {
                r = ap_parse_u64_n(buf, l1, &q);
                if (r < 0)
                        return r;
                if (q == 0)
                        return -EINVAL;
        }
        if (sp) {
                /* Exactly one more field: no second space, no empty field. */
                size_t l2 = len - l1 - 1;

                if (l2 == 0 || memchr(sp + 1, ' ', l2))
                        return -EINVAL;
                r = ap_parse_u64_n(sp + 1, l2, &p);
                if (r < 0)
                        return r;
                if (p == 0)
                        return -EINVAL;
        }
        *ret = max ? (ApCpuMax){ .limited = false } : (ApCpuMax){ .limited = true, .quota_us = q, .period_us = p };
        return 0;
}

bool ap_cpu_max_lower(const ApCpuMax *a, const ApCpuMax *b)
{
        if (!a->limited)
                return false;
        if (!b->limited)
                return true;
        /* a.q/a.p < b.q/b.p  <=>  a.q*b.p < b.q*a.p, exact in 128 bits for any u64 pair. */
        return (unsigned __int128)a->quota_us * b->period_us < (unsigned __int128)b->quota_us * a->period_us;
}
