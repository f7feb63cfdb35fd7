/* SPDX-License-Identifier: MIT */
/*
 * cpu.stat and cpuacct.usage (Documentation/scheduler/sched-bwc.rst "Statistics": v1 nr_periods,
 * nr_throttled, throttled_time in ns; Documentation/admin-guide/cgroup-v2.rst "cpu.stat":
 * usage_usec always, nr_periods, nr_throttled, throttled_usec with the cpu controller).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"
#include "probes/cpustat.h"

enum { K_PERIODS, K_THROTTLED, K_TIME_NS, K_TIME_US, K_USAGE_US, K_MAX };

int ap_cpu_stat_parse(const char *buf, size_t len, ApCpuStat *ret)
{
        static const char *const keys[K_MAX] = { "nr_periods", "nr_throttled", "throttled_time",
                                                  "throttled_usec", "usage_usec" };
        uint64_t v[K_MAX] = { 0 };
        bool seen[K_MAX] = { false };
        ApLines it;
        const char *p;
        size_t l;
        ApCpuStat s = { 0 };

        if (!buf || !ret)
                return -EINVAL;
        if (memchr(buf, 0, len))
                return -EINVAL;
        it = AP_LINES_INIT(buf, len);
        while (ap_lines_next(&it, &p, &l)) {
                const char *sp = memchr(p, ' ', l);

                for (int k = 0; sp && k < K_MAX; k++) {
                        size_t kl = strlen(keys[k]);

                        if ((size_t)(sp - p) != kl || memcmp(p, keys[k], kl) != 0)
                                continue;
                        if (seen[k] || ap_parse_u64_n(sp + 1, l - kl - 1, &v[k]) < 0)
                                return -EINVAL;
                        seen[k] = true;
                }
                if (!sp) {
                        /* A known key without a value is malformed; anything else is ignored. */
                        for (int k = 0; k < K_MAX; k++)
                                if (l == strlen(keys[k]) && memcmp(p, keys[k], l) == 0)
                                        return -EINVAL;
                }
        }
        if (seen[K_PERIODS] && seen[K_THROTTLED] && (seen[K_TIME_US] || seen[K_TIME_NS])) {
                s.has_throttling = true;
                s.nr_periods = v[K_PERIODS];
                s.nr_throttled = v[K_THROTTLED];
                s.throttled_usec = seen[K_TIME_US] ? v[K_TIME_US] : v[K_TIME_NS] / 1000;
        }
        if (seen[K_USAGE_US]) {
                s.has_usage = true;
                s.usage_usec = v[K_USAGE_US];
        }
        *ret = s;
        return 0;
}

int ap_cpuacct_usage_parse(const char *buf, size_t len, uint64_t *ret_usec)
{
        uint64_t ns;
        int r;

        if (!buf || !ret_usec)
                return -EINVAL;
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        r = ap_parse_u64_n(buf, len, &ns);
        if (r < 0)
                return -EINVAL;
        *ret_usec = ns / 1000;
        return 0;
}

int ap_cpu_stat_read(const ApProbeRoot *root, const char *dir, const char *cpuacct_dir,
                     ApCpuStat *ret, ApWarnings *warn)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        ApCpuStat s = { 0 };
        bool any = false;
        size_t len;
        int r;

        if (!root || !dir || !ret)
                return -EINVAL;
        path = ap_path_join_rel(dir, "cpu.stat");
        if (!path)
                return -ENOMEM;
        r = ap_read_file_at(root->mnt_fd, path, 1024 * 1024, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                ap_warn(warn, "/%s: %s", path, ap_open_strerror(r));
        else if (ap_cpu_stat_parse(buf, len, &s) < 0)
                ap_warn(warn, "/%s: malformed", path);
        else {
                any = true;
                if (!s.has_throttling)
                        ap_warn(warn, "/%s: no nr_periods/nr_throttled/throttled time (cpu controller off?)", path);
        }
        if (cpuacct_dir && !s.has_usage) {
                _cleanup_free_ char *p2 = ap_path_join_rel(cpuacct_dir, "cpuacct.usage"), *b2 = NULL;
                uint64_t us;

                if (!p2)
                        return -ENOMEM;
                r = ap_read_file_at(root->mnt_fd, p2, 4096, &b2, &len);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        ap_warn(warn, "/%s: %s", p2, ap_open_strerror(r));
                else if (ap_cpuacct_usage_parse(b2, len, &us) < 0)
                        ap_warn(warn, "/%s: not a number of nanoseconds", p2);
                else {
                        s.has_usage = true;
                        s.usage_usec = us;
                        any = true;
                }
        }
        *ret = s;
        return any ? 0 : AP_PROBE_NOT_APPLICABLE;
}
