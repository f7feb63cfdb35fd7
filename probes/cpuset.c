/* SPDX-License-Identifier: MIT */
/*
 * CPUs the process may run on.  Live system: sched_getaffinity with a mask grown on EINVAL (a fixed
 * cpu_set_t fails on hosts with more than 1024 CPUs).  A tree (--root): proc/PID/status
 * "Cpus_allowed_list:", else sys/devices/system/cpu/online.  Either way intersected with the cgroup
 * cpuset when it is readable (v2 cpuset.cpus.effective, v1 cpuset.cpus).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"
#include "probes/cpuset.h"

void ap_cpu_set_done(ApCpuSet *s)
{
        if (!s)
                return;
        free(s->bits);
        *s = AP_CPU_SET_NULL;
}

size_t ap_cpu_set_count(const ApCpuSet *s)
{
        size_t n = 0;

        for (size_t i = 0; i < (s->nbits + 63) / 64; i++)
                n += (size_t)__builtin_popcountll(s->bits[i]);
        return n;
}

void ap_cpu_set_and(ApCpuSet *a, const ApCpuSet *b)
{
        size_t wa = (a->nbits + 63) / 64, wb = (b->nbits + 63) / 64;

        for (size_t i = 0; i < wa; i++)
                a->bits[i] &= i < wb ? b->bits[i] : 0;
}

/* One item "N" or "N-M" of @len bytes. */
static int item_parse(const char *s, size_t len, uint64_t *ret_lo, uint64_t *ret_hi)
{
        const char *dash = memchr(s, '-', len);
        uint64_t lo, hi;
        int r;

        if (len == 0)
                return -EINVAL;
        if (!dash) {
                r = ap_parse_u64_n(s, len, &lo);
                hi = lo;
        } else {
                r = ap_parse_u64_n(s, (size_t)(dash - s), &lo);
                if (r >= 0)
                        r = ap_parse_u64_n(dash + 1, len - (size_t)(dash - s) - 1, &hi);
        }
        if (r < 0)
                return -EINVAL;
        if (lo > hi || hi > AP_CPU_ID_MAX)
                return -EINVAL;
        *ret_lo = lo;
        *ret_hi = hi;
        return 0;
}

int ap_cpu_list_parse(const char *buf, size_t len, ApCpuSet *ret)
{
        ApCpuSet s = AP_CPU_SET_NULL;
        uint64_t max = 0;
        bool any = false;

        if (!buf || !ret)
                return -EINVAL;
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (memchr(buf, 0, len))
                return -EINVAL;
        /* Pass 1: validate, find the highest CPU.  Pass 2: set the bits. */
        for (int pass = 0; pass < 2; pass++) {
                const char *p = buf, *end = buf + len;

                while (len > 0) {
                        const char *comma = memchr(p, ',', (size_t)(end - p));
                        size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);
                        uint64_t lo, hi;

                        if (item_parse(p, l, &lo, &hi) < 0) {
                                ap_cpu_set_done(&s);
                                return -EINVAL;
                        }
                        if (pass == 0) {
                                max = any && max > hi ? max : hi;
                                any = true;
                        } else
                                for (uint64_t c = lo; c <= hi; c++)
                                        s.bits[c / 64] |= UINT64_C(1) << (c % 64);
                        if (!comma)
                                break;
                        p = comma + 1;
                        if (p == end) { /* trailing comma */
                                ap_cpu_set_done(&s);
                                return -EINVAL;
                        }
                }
                if (pass == 0) {
                        if (!any)
                                break;
                        s.nbits = (size_t)max + 1;
                        s.bits = calloc((s.nbits + 63) / 64, sizeof(uint64_t));
                        if (!s.bits)
                                return -ENOMEM;
                }
        }
        *ret = s;
        return 0;
}

int ap_status_cpus_allowed_parse(const char *buf, size_t len, ApCpuSet *ret)
{
        size_t l;
        const char *v = ap_lines_find_value(buf, len, "Cpus_allowed_list:", &l);

        if (!v)
                return -ENOENT;
        return ap_cpu_list_parse(v, l, ret);
}

int ap_affinity_syscall(int pid, ApCpuSet *ret)
{
        for (size_t n = 1024; n <= (size_t)AP_CPU_ID_MAX + 1; n *= 2) {
                cpu_set_t *set = CPU_ALLOC(n);
                size_t size = CPU_ALLOC_SIZE(n);
                ApCpuSet s;

                if (!set)
                        return -ENOMEM;
                CPU_ZERO_S(size, set);
                if (sched_getaffinity(pid, size, set) < 0) {
                        int e = errno;

                        CPU_FREE(set);
                        if (e == EINVAL)
                                continue; /* the kernel's mask is bigger: grow */
                        return e > 0 ? -e : -EIO;
                }
                s.nbits = size * 8;
                s.bits = calloc((s.nbits + 63) / 64, sizeof(uint64_t));
                if (!s.bits) {
                        CPU_FREE(set);
                        return -ENOMEM;
                }
                for (size_t c = 0; c < s.nbits; c++)
                        if (CPU_ISSET_S(c, size, set))
                                s.bits[c / 64] |= UINT64_C(1) << (c % 64);
                CPU_FREE(set);
                *ret = s;
                return 0;
        }
        return -EINVAL;
}

/* Read a CPU list file below @fd.  @retval 0, -ENOENT (quiet), other -errno (warned). */
static int read_list(int fd, const char *path, ApCpuSet *ret, ApWarnings *warn)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = ap_read_file_at(fd, path, 1024 * 1024, &buf, &len);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                ap_warn(warn, "/%s: %s", path, ap_open_strerror(r));
                return r;
        }
        r = ap_cpu_list_parse(buf, len, ret);
        if (r < 0)
                ap_warn(warn, "/%s: not a CPU list", path);
        return r;
}

int ap_affinity_read(const ApProbeRoot *root, const ApCgroupLoc *cpuset_loc, ApAffinity *ret,
                     ApWarnings *warn)
{
        ApCpuSet mask = AP_CPU_SET_NULL, cs = AP_CPU_SET_NULL;
        ApAffinity a = { 0 };
        char proc[32], path[64];
        int r;

        if (!root || !ret)
                return -EINVAL;
        if (root->live) {
                r = ap_affinity_syscall(root->pid, &mask);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        ap_warn(warn, "sched_getaffinity(%d): %s", root->pid, strerror(-r));
                else
                        a.source = AP_AFFINITY_SYSCALL;
        }
        if (a.source == AP_AFFINITY_NONE) {
                _cleanup_free_ char *buf = NULL;
                size_t len;

                ap_probe_proc_dir(root, proc, sizeof(proc));
                snprintf(path, sizeof(path), "%s/status", proc);
                r = ap_read_file_at(root->root_fd, path, 1024 * 1024, &buf, &len);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        ap_warn(warn, "/%s: %s", path, ap_open_strerror(r));
                else {
                        r = ap_status_cpus_allowed_parse(buf, len, &mask);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                ap_warn(warn, "/%s: %s", path,
                                        r == -ENOENT ? "no Cpus_allowed_list line" : "Cpus_allowed_list is not a CPU list");
                        else if (ap_cpu_set_count(&mask) == 0) {
                                ap_warn(warn, "/%s: Cpus_allowed_list is empty", path);
                                ap_cpu_set_done(&mask);
                        } else
                                a.source = AP_AFFINITY_STATUS;
                }
        }
        if (a.source == AP_AFFINITY_NONE) {
                r = read_list(root->root_fd, "sys/devices/system/cpu/online", &mask, warn);
                if (r == -ENOMEM)
                        return r;
                if (r == -ENOENT)
                        ap_warn(warn, "/sys/devices/system/cpu/online: %s", strerror(ENOENT));
                if (r == 0 && ap_cpu_set_count(&mask) > 0)
                        a.source = AP_AFFINITY_ONLINE;
                else if (r == 0) {
                        ap_warn(warn, "/sys/devices/system/cpu/online: empty");
                        ap_cpu_set_done(&mask);
                }
        }
        a.mask_cpus = (unsigned)ap_cpu_set_count(&mask);
        a.cpus = a.mask_cpus;

        /* The kernel keeps a live task's affinity inside its cpuset (sched_setaffinity and cpuset
         * updates both clamp it), so the syscall's mask needs no intersection: the cpuset file is
         * read only for a tree (--root), whose status file says nothing of the cpuset. */
        if (a.source != AP_AFFINITY_SYSCALL && cpuset_loc && cpuset_loc->version != 0 && cpuset_loc->dir) {
                _cleanup_free_ char *f = ap_path_join_rel(cpuset_loc->dir, cpuset_loc->version == 2
                                                                                   ? "cpuset.cpus.effective"
                                                                                   : "cpuset.cpus");

                if (!f) {
                        ap_cpu_set_done(&mask);
                        return -ENOMEM;
                }
                r = read_list(root->mnt_fd, f, &cs, warn);
                if (r == -ENOMEM) {
                        ap_cpu_set_done(&mask);
                        return r;
                }
                if (r == 0) {
                        a.cpuset_cpus = (unsigned)ap_cpu_set_count(&cs);
                        if (a.cpuset_cpus == 0)
                                ap_warn(warn, "/%s: empty cpuset; ignored", f);
                        else if (a.source == AP_AFFINITY_NONE)
                                a.cpus = a.cpuset_cpus;
                        else {
                                ap_cpu_set_and(&mask, &cs);
                                if (ap_cpu_set_count(&mask) == 0)
                                        ap_warn(warn, "/%s: cpuset shares no CPU with the affinity mask; ignored", f);
                                else
                                        a.cpus = (unsigned)ap_cpu_set_count(&mask);
                        }
                }
        }
        ap_cpu_set_done(&mask);
        ap_cpu_set_done(&cs);
        *ret = a;
        return a.cpus > 0 ? 0 : AP_PROBE_NOT_APPLICABLE;
}

bool ap_affinity_is_cpuset(const ApProbeRoot *root, const ApCgroupLoc *cpuset_loc, const ApAffinity *aff)
{
        ApCpuSet cs = AP_CPU_SET_NULL, online = AP_CPU_SET_NULL;
        unsigned n_cpuset = aff->cpuset_cpus, n_online = 0;
        bool r;

        if (!root || !aff || aff->cpus == 0)
                return false;
        if (n_cpuset == 0 && cpuset_loc && cpuset_loc->version != 0 && cpuset_loc->dir) {
                /* Live: the syscall's mask is already inside the cpuset; read it for the source only. */
                _cleanup_free_ char *f = ap_path_join_rel(cpuset_loc->dir, cpuset_loc->version == 2
                                                                                   ? "cpuset.cpus.effective"
                                                                                   : "cpuset.cpus");

                if (f && read_list(root->mnt_fd, f, &cs, NULL) == 0)
                        n_cpuset = (unsigned)ap_cpu_set_count(&cs);
        }
        if (read_list(root->root_fd, "sys/devices/system/cpu/online", &online, NULL) == 0)
                n_online = (unsigned)ap_cpu_set_count(&online);
        r = n_cpuset > 0 && n_cpuset == aff->cpus && (n_online == 0 || n_cpuset < n_online);
        ap_cpu_set_done(&cs);
        ap_cpu_set_done(&online);
        return r;
}
