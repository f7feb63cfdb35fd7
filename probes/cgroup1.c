/* SPDX-License-Identifier: MIT */
/*
 * cgroup v1 CFS bandwidth: cpu.cfs_quota_us (signed; -1, or any negative write, = no limit) and
 * cpu.cfs_period_us (Documentation/scheduler/sched-bwc.rst).  A quota of 0 cannot be written
 * (the minimum is 1 ms), so it is treated as malformed, not as "no CPU".
 */
#include <errno.h>
#include <string.h>

#include "lib/util/parse.h"
#include "probes/cgroup1.h"

/* Copy one value line into @tmp: one trailing newline allowed, no NULs. */
static int one_value(const char *buf, size_t len, char *tmp, size_t size)
{
        if (!buf)
                return -EINVAL;
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len == 0 || len >= size || memchr(buf, 0, len))
                return -EINVAL;
        memcpy(tmp, buf, len);
        tmp[len] = 0;
        return 0;
}

int ap_cfs_quota_parse(const char *buf, size_t len, int64_t *ret)
{
        char tmp[32];
        int64_t v;
        int r;

        r = one_value(buf, len, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        r = ap_parse_i64(tmp, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int ap_cfs_period_parse(const char *buf, size_t len, uint64_t *ret)
{
        char tmp[32];
        uint64_t v;
        int r;

        r = one_value(buf, len, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        r = ap_parse_u64(tmp, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

void ap_cfs_combine(int64_t quota, uint64_t period, ApCpuMax *ret)
{
        if (quota < 0)
                *ret = (ApCpuMax){ .limited = false };
        else
                *ret = (ApCpuMax){ .limited = true, .quota_us = (uint64_t)quota, .period_us = period };
}
