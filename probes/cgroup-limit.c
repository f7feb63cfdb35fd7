/* SPDX-License-Identifier: MIT */
/*
 * The limit chain: every level from the process cgroup up to and including the mount root (nothing
 * above is visible), files opened once, re-read with pread.  The binding level is the lowest
 * quota/period (exact); a level whose files are missing, unset ("max", negative quota) or malformed
 * does not limit.  Why every level: a limited parent with an unlimited leaf (systemd slices,
 * Kubernetes pod cgroups, a DinD "init" leaf) is enforced by the kernel all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/path.h"
#include "probes/cgroup-limit.h"

#define AP_LIMIT_FILE_MAX 256

void ap_limit_chain_done(ApLimitChain *chain)
{
        if (!chain)
                return;
        for (size_t i = 0; i < chain->n; i++) {
                ApLimitLevel *l = &chain->levels[i];

                free(l->hier_path);
                free(l->file);
                free(l->dir);
                (void)ap_close(l->fd_a);
                (void)ap_close(l->fd_b);
        }
        free(chain->levels);
        *chain = AP_LIMIT_CHAIN_NULL;
}

/* Open @dir/@name below @fd: fd, or -1 when missing (other errors warned). */
static int open_level_file(int fd, const char *dir, const char *name, ApWarnings *warn)
{
        _cleanup_free_ char *path = ap_path_join_rel(dir, name);
        int r;

        if (!path)
                return -ENOMEM;
        r = ap_open_ro_at(fd, path);
        if (r < 0 && r != -ENOENT && r != -ENOTDIR)
                ap_warn(warn, "/%s: %s", strcmp(path, ".") == 0 ? "" : path, ap_open_strerror(r));
        if (r == -ENOMEM)
                return r;
        return r < 0 ? -1 : r;
}

static char *display_path(const char *dir, const char *name)
{
        char *d;

        if (asprintf(&d, "/%s%s%s", strcmp(dir, ".") == 0 ? "" : dir, strcmp(dir, ".") == 0 ? "" : "/", name) < 0)
                return NULL;
        return d;
}

int ap_limit_chain_open(const ApProbeRoot *root, const ApCgroupLoc *loc, ApLimitChain *ret,
                        ApWarnings *warn)
{
        ApLimitChain c = { 0 };
        const char *rest;
        _cleanup_free_ char *rel = NULL;
        size_t ncomp, present = 0;

        if (!root || !loc || !ret)
                return -EINVAL;
        if (loc->version == 0 || !loc->dir || !loc->top)
                return AP_PROBE_NOT_APPLICABLE;
        if (strcmp(loc->top, ".") == 0)
                rest = strcmp(loc->dir, ".") == 0 ? "" : loc->dir;
        else if (!ap_path_comp_prefix(loc->top, loc->dir, &rest))
                return -EINVAL;
        rel = strdup(rest);
        if (!rel)
                return -ENOMEM;
        ncomp = ap_path_n_comps(rel);
        c.version = loc->version;
        c.levels = calloc(ncomp + 1, sizeof(*c.levels));
        if (!c.levels)
                return -ENOMEM;
        for (size_t i = 0; i <= ncomp; i++) {
                ApLimitLevel *l = &c.levels[i];
                const char *first = loc->version == 2 ? "cpu.max" : "cpu.cfs_quota_us";
                int fa, fb = -1;

                l->fd_a = l->fd_b = -1;
                c.n = i + 1;
                /* rel holds the first ncomp - i components of the path below the mount point. */
                if (i > 0) {
                        char *slash = strrchr(rel, '/');

                        if (slash)
                                *slash = 0;
                        else
                                rel[0] = 0;
                }
                l->dir = ap_path_join_rel(loc->top, rel);
                l->hier_path = loc->ns_rel ? ap_path_seen_from(loc->ns_rel, rel)
                                           : ap_path_join_abs(loc->mount_root ? loc->mount_root : "/", rel);
                l->file = l->dir ? display_path(l->dir, first) : NULL;
                if (!l->dir || !l->hier_path || !l->file)
                        goto nomem;
                fa = open_level_file(root->mnt_fd, l->dir, first, warn);
                if (fa == -ENOMEM)
                        goto nomem;
                l->fd_a = fa;
                if (loc->version == 1) {
                        fb = open_level_file(root->mnt_fd, l->dir, "cpu.cfs_period_us", warn);
                        if (fb == -ENOMEM)
                                goto nomem;
                        l->fd_b = fb;
                        if ((fa >= 0) != (fb >= 0))
                                ap_warn(warn, "/%s/cpu.cfs_%s_us: missing while its pair exists; level ignored",
                                        strcmp(l->dir, ".") == 0 ? "" : l->dir, fa >= 0 ? "period" : "quota");
                }
                if (fa >= 0)
                        present++;
        }
        /* The v2 root never has cpu.max; anywhere else a chain without any file is worth a line. */
        if (present == 0 && !(loc->version == 2 && ncomp == 0))
                ap_warn(warn, "/%s: no %s in this cgroup or any ancestor up to the mount point /%s",
                        strcmp(loc->dir, ".") == 0 ? "" : loc->dir,
                        loc->version == 2 ? "cpu.max" : "cpu.cfs_quota_us",
                        strcmp(loc->top, ".") == 0 ? "" : loc->top);
        *ret = c;
        return 0;
nomem:
        ap_limit_chain_done(&c);
        return -ENOMEM;
}

/* Read one level.  @retval 0 ok (*ret), 1 nothing there, -errno failed (warned). */
static int level_read(const ApLimitChain *chain, const ApLimitLevel *l, ApCpuMax *ret, ApWarnings *warn)
{
        char a[AP_LIMIT_FILE_MAX], b[AP_LIMIT_FILE_MAX];
        ssize_t na, nb;
        int r;

        if (l->fd_a < 0)
                return 1;
        na = ap_pread_all(l->fd_a, a, sizeof(a));
        if (na < 0) {
                ap_warn(warn, "%s: %s", l->file, na == -EFBIG ? "too long" : strerror((int)-na));
                return (int)na;
        }
        if (chain->version == 2) {
                r = ap_cpu_max_parse(a, (size_t)na, ret);
                if (r < 0)
                        ap_warn(warn, "%s: not a valid cpu.max (\"$MAX $PERIOD\"); level ignored", l->file);
                return r;
        }
        if (l->fd_b < 0)
                return 1;
        {
                int64_t q;

                /* No limit at this level: the period does not matter (one pread less per level on
                 * the watcher's hot path). */
                if (ap_cfs_quota_parse(a, (size_t)na, &q) == 0 && q < 0) {
                        *ret = (ApCpuMax){ .limited = false };
                        return 0;
                }
        }
        nb = ap_pread_all(l->fd_b, b, sizeof(b));
        if (nb < 0) {
                ap_warn(warn, "%s (cpu.cfs_period_us): %s", l->file, nb == -EFBIG ? "too long" : strerror((int)-nb));
                return (int)nb;
        }
        {
                int64_t q;
                uint64_t p;

                r = ap_cfs_quota_parse(a, (size_t)na, &q);
                if (r < 0) {
                        ap_warn(warn, "%s: not a valid quota (a non-zero integer, -1 = none); level ignored", l->file);
                        return r;
                }
                r = ap_cfs_period_parse(b, (size_t)nb, &p);
                if (r < 0) {
                        ap_warn(warn, "%s: cpu.cfs_period_us beside it is not a positive integer; level ignored",
                                l->file);
                        return r;
                }
                ap_cfs_combine(q, p, ret);
        }
        return 0;
}

int ap_limit_chain_read(const ApLimitChain *chain, ApCpuLimit *ret, size_t *ret_failed,
                        ApWarnings *warn)
{
        ApCpuMax best = { .limited = false };
        size_t best_i = 0, failed = 0;

        if (!chain || !ret)
                return -EINVAL;
        for (size_t i = 0; i < chain->n; i++) {
                ApCpuMax m;
                int r = level_read(chain, &chain->levels[i], &m, warn);

                if (r < 0) {
                        failed++;
                        continue;
                }
                /* Strictly lower: on a tie the level closest to the process stays. */
                if (r == 0 && ap_cpu_max_lower(&m, &best)) {
                        best = m;
                        best_i = i;
                }
        }
        *ret = (ApCpuLimit){ .limited = best.limited };
        if (best.limited) {
                ret->quota_us = best.quota_us;
                ret->period_us = best.period_us;
                ret->level = best_i;
                ret->cgroup = chain->levels[best_i].hier_path;
                ret->file = chain->levels[best_i].file;
        }
        if (ret_failed)
                *ret_failed = failed;
        return 0;
}

int ap_limit_read(const ApProbeRoot *root, const ApCgroupLoc *loc, ApCpuLimit *ret,
                  char **ret_cgroup, char **ret_file, ApWarnings *warn)
{
        ApLimitChain c = AP_LIMIT_CHAIN_NULL;
        ApCpuLimit lim;
        char *cg = NULL, *file = NULL;
        int r;

        r = ap_limit_chain_open(root, loc, &c, warn);
        if (r != 0)
                return r;
        (void)ap_limit_chain_read(&c, &lim, NULL, warn);
        if (lim.limited) {
                cg = strdup(lim.cgroup);
                file = strdup(lim.file);
                if (!cg || !file) {
                        free(cg);
                        free(file);
                        ap_limit_chain_done(&c);
                        return -ENOMEM;
                }
        }
        lim.cgroup = lim.file = NULL;
        ap_limit_chain_done(&c);
        *ret = lim;
        if (ret_cgroup)
                *ret_cgroup = cg;
        else
                free(cg);
        if (ret_file)
                *ret_file = file;
        else
                free(file);
        return 0;
}
