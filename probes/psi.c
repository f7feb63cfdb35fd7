/* SPDX-License-Identifier: MIT */
/*
 * cpu.pressure (Documentation/accounting/psi.rst): "some" and "full" lines of avg10, avg60, avg300
 * (percent, two decimals) and total (µs).  A cgroup's CPU "full" line reflects cpu.max throttling.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"
#include "probes/psi.h"

/* "12.34" (0, 1 or 2 decimals) as hundredths, at most 100.00. */
static int pct_parse(const char *s, size_t len, uint32_t *ret)
{
        const char *dot = memchr(s, '.', len);
        uint64_t whole, frac = 0;
        size_t nf = 0;

        if (ap_parse_u64_n(s, dot ? (size_t)(dot - s) : len, &whole) < 0)
                return -EINVAL;
        if (dot) {
                nf = len - (size_t)(dot - s) - 1;
                if (nf == 0 || nf > 2 || ap_parse_u64_n(dot + 1, nf, &frac) < 0)
                        return -EINVAL;
                if (nf == 1)
                        frac *= 10;
        }
        if (whole > 100 || whole * 100 + frac > 10000)
                return -EINVAL;
        *ret = (uint32_t)(whole * 100 + frac);
        return 0;
}

/* The fields after "some " / "full ". */
static int line_parse(const char *p, size_t len, ApPsiLine *ret)
{
        static const char *const keys[] = { "avg10=", "avg60=", "avg300=", "total=" };
        bool seen[4] = { false };
        const char *end = p + len;
        ApPsiLine l = { 0 };

        while (p < end) {
                const char *sp = memchr(p, ' ', (size_t)(end - p));
                size_t fl = sp ? (size_t)(sp - p) : (size_t)(end - p);
                bool known = false;

                for (int k = 0; k < 4; k++) {
                        size_t kl = strlen(keys[k]);
                        int r;

                        if (fl < kl || memcmp(p, keys[k], kl) != 0)
                                continue;
                        if (seen[k])
                                return -EINVAL;
                        if (k == 3)
                                r = ap_parse_u64_n(p + kl, fl - kl, &l.total_usec);
                        else
                                r = pct_parse(p + kl, fl - kl, k == 0 ? &l.avg10 : k == 1 ? &l.avg60 : &l.avg300);
                        if (r < 0)
                                return -EINVAL;
                        seen[k] = known = true;
                }
                if (!known)
                        return -EINVAL;
                p = sp ? sp + 1 : end;
        }
        if (!seen[0] || !seen[1] || !seen[2] || !seen[3])
                return -EINVAL;
        *ret = l;
        return 0;
}

int ap_psi_parse(const char *buf, size_t len, ApPsi *ret)
{
        ApLines it;
        const char *p;
        size_t l;
        bool some = false;
        ApPsi psi = { 0 };

        if (!buf || !ret || memchr(buf, 0, len))
                return -EINVAL;
        it = AP_LINES_INIT(buf, len);
        while (ap_lines_next(&it, &p, &l)) {

                if (l >= 5 && memcmp(p, "some ", 5) == 0) {
                        if (some || line_parse(p + 5, l - 5, &psi.some) < 0)
                                return -EINVAL;
                        some = true;
                } else if (l >= 5 && memcmp(p, "full ", 5) == 0) {
                        if (psi.has_full || line_parse(p + 5, l - 5, &psi.full) < 0)
                                return -EINVAL;
                        psi.has_full = true;
                }
        }
        if (!some)
                return -EINVAL;
        *ret = psi;
        return 0;
}

int ap_psi_read(const ApProbeRoot *root, const char *dir, ApPsi *ret, ApWarnings *warn)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len;
        int r;

        if (!root || !dir || !ret)
                return -EINVAL;
        path = ap_path_join_rel(dir, "cpu.pressure");
        if (!path)
                return -ENOMEM;
        r = ap_read_file_at(root->mnt_fd, path, 64 * 1024, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ap_warn(warn, "/%s: %s", path, r == -EOPNOTSUPP ? "PSI is disabled (psi=0)" : ap_open_strerror(r));
                return AP_PROBE_NOT_APPLICABLE;
        }
        if (ap_psi_parse(buf, len, ret) < 0) {
                ap_warn(warn, "/%s: malformed", path);
                return AP_PROBE_NOT_APPLICABLE;
        }
        return 0;
}
