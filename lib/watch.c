/* SPDX-License-Identifier: MIT */
/*
 * ApWatch: the cheap, repeated re-reading of one resolved process (or cgroup directory).
 *
 * Resolution (ap_cgroup_model_read: /proc/PID/cgroup + mountinfo, then the limit chain opened
 * level by level) is done at start and again only when something says it is stale:
 *   - /proc/PID/cgroup differs from the text the model came from (the process moved);
 *   - mountinfo changed: on procfs, poll() reports POLLPRI|POLLERR once per mount-table change
 *     (fs/proc_namespace.c mounts_poll); on a tree of plain files (fixtures, --root) the file's
 *     inode, size and mtime are compared instead;
 *   - a cached level fails to read (cgroupfs answers ENODEV once a cgroup is removed) or, on plain
 *     files, was unlinked (st_nlink 0: an open fd would keep reading the old text forever).
 * Otherwise a tick is a few preads (the chain), one pread (/proc/PID/cgroup) and one poll.  The
 * affinity (sched_getaffinity and the cpuset file: five system calls, half a tick's cost) is
 * re-read on every tick only when ticks are >= AP_WATCH_AFFINITY_MS apart, else on every Nth tick
 * so that it is at most that old, and always after a re-resolution: a quota is what changes live
 * (Kubernetes in-place resize); a cpuset change waits at most AP_WATCH_AFFINITY_MS + one tick.
 *
 * A level that still fails after re-resolution makes the tick "failed" (procs 0): a garbage or
 * half-written file must never resize the runtime; the last good size stays.  A level whose file
 * is missing at resolution is "no limit there", as at detection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/policy.h"
#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/macro.h"
#include "lib/util/path.h"
#include "lib/watch.h"
#include "probes/cgroup-limit.h"
#include "probes/cgroup-path.h"
#include "probes/cgroup-resolve.h"
#include "probes/cpuset.h"
#include "probes/cpustat.h"
#include "probes/probe.h"
#include "probes/psi.h"

/* The oldest an affinity reading may get between ticks. */
#define AP_WATCH_AFFINITY_MS 100u

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

struct ApWatch {
        autoprocs_config *config;
        ApProbeRoot root;
        ApCgroupModel model;
        bool have_model;
        ApLimitChain chain;
        int proc_cgroup_fd;          /* -1: cgroup-dir mode, or unreadable */
        int mountinfo_fd;            /* -1: unreadable */
        bool mountinfo_pollable;     /* procfs: POLLPRI on change */
        char mountinfo_path[64];
        struct stat mountinfo_sig;   /* plain files: inode, size, mtime */
        bool plain_files;            /* the root is a tree of ordinary files (not procfs/cgroupfs) */
        unsigned affinity;           /* the last affinity read */
        unsigned affinity_every;     /* re-read it every N ticks */
        unsigned affinity_age;       /* ticks since it was read */
        size_t binding;              /* chain level of the binding limit (when has_limit) */
        ApWatchResult last;
        /* ap_watch_counters(): cpu.stat, cpuacct.usage, cpu.pressure; -1 = none */
        int ctr_fds[3];
        bool ctr_open;
        size_t ctr_level;
};

static void counters_close(ApWatch *w)
{
        for (size_t i = 0; i < AP_ELEMENTSOF(w->ctr_fds); i++)
                w->ctr_fds[i] = ap_close(w->ctr_fds[i]);
        w->ctr_open = false;
}

static void drop_model(ApWatch *w)
{
        counters_close(w);
        ap_limit_chain_done(&w->chain);
        w->chain = AP_LIMIT_CHAIN_NULL;
        if (w->have_model)
                ap_cgroup_model_done(&w->model);
        w->have_model = false;
}

static bool same_sig(const struct stat *a, const struct stat *b)
{
        return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Remember the mountinfo signature (plain files) or clear a pending POLLPRI (procfs). */
static void mountinfo_mark(ApWatch *w)
{
        struct pollfd p = { .fd = w->mountinfo_fd, .events = POLLPRI };

        if (w->mountinfo_fd < 0)
                return;
        if (w->mountinfo_pollable)
                (void)poll(&p, 1, 0);
        else if (fstatat(w->root.root_fd, w->mountinfo_path, &w->mountinfo_sig, 0) < 0)
                memset(&w->mountinfo_sig, 0, sizeof(w->mountinfo_sig));
}

static bool mountinfo_changed(ApWatch *w)
{
        struct pollfd p = { .fd = w->mountinfo_fd, .events = POLLPRI };
        struct stat st;

        if (w->mountinfo_fd < 0)
                return false;
        if (w->mountinfo_pollable)
                return poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR));
        if (fstatat(w->root.root_fd, w->mountinfo_path, &st, 0) < 0)
                memset(&st, 0, sizeof(st));
        return !same_sig(&st, &w->mountinfo_sig);
}

static void read_affinity(ApWatch *w)
{
        ApAffinity aff = {};

        if (ap_affinity_read(&w->root, w->have_model ? &w->model.cpuset : NULL, &aff, NULL) != 0)
                aff.cpus = 0;
        w->affinity = aff.cpus;
        w->affinity_age = 0;
}

/* Full resolution: model, chain, affinity.  Never fails on odd files (they make an empty chain). */
static int resolve(ApWatch *w)
{
        int r;

        drop_model(w);
        if (w->config->cgroup_dir)
                r = ap_cgroup_model_for_dir(&w->root, w->config->cgroup_dir, &w->model, NULL);
        else
                r = ap_cgroup_model_read(&w->root, &w->model, NULL);
        if (r < 0)
                return r;
        w->have_model = true;
        r = ap_limit_chain_open(&w->root, &w->model.cpu, &w->chain, NULL);
        if (r < 0)
                return r;
        mountinfo_mark(w);
        read_affinity(w);
        return 0;
}

/* On plain files an unlinked level still reads its old text: treat it as failed. */
static size_t unlinked_levels(const ApWatch *w)
{
        size_t n = 0;

        if (!w->plain_files)
                return 0;
        for (size_t i = 0; i < w->chain.n; i++) {
                const int fds[2] = { w->chain.levels[i].fd_a, w->chain.levels[i].fd_b };

                for (size_t j = 0; j < 2; j++) {
                        struct stat st;

                        if (fds[j] >= 0 && (fstat(fds[j], &st) < 0 || st.st_nlink == 0))
                                n++;
                }
        }
        return n;
}

/* One read of the chain (the affinity is w->affinity); the policy makes the recommendation.
 * @retval true read fine  @retval false a level failed (stale: re-resolve) */
static bool read_once(ApWatch *w, ApWatchResult *res)
{
        ApCpuLimit lim = {};
        const ApAffinity aff = { .cpus = w->affinity };
        size_t failed = 0;

        *res = (ApWatchResult){};
        if (w->chain.n > 0)
                (void)ap_limit_chain_read(&w->chain, &lim, &failed, NULL);
        failed += unlinked_levels(w);
        if (lim.limited)
                w->binding = lim.level;
        res->has_limit = lim.limited;
        res->quota_us = lim.limited ? lim.quota_us : 0;
        res->period_us = lim.limited ? lim.period_us : 0;
        res->affinity = aff.cpus;
        /* With failed levels this is what the readable ones say (as detection would); the tick
         * does not act on it, ap_watch_new() starts from it. */
        res->procs = ap_policy_procs(&(ApPolicyInput){
                .has_limit = lim.limited,
                .quota_us = lim.quota_us,
                .period_us = lim.period_us,
                .affinity = aff.cpus,
                .policy = w->config->policy,
                .min_procs = w->config->min_procs,
                .reserve_millicpus = w->config->reserve_millicpus,
        });
        return failed == 0;
}

static bool same_reading(const ApWatchResult *a, const ApWatchResult *b)
{
        return a->procs == b->procs && a->has_limit == b->has_limit && a->quota_us == b->quota_us &&
               a->period_us == b->period_us && a->affinity == b->affinity;
}

int ap_watch_new(const autoprocs_config *config, ApWatch **ret)
{
        _cleanup_(ap_watch_freep) ApWatch *w = NULL;
        struct statfs sfs;
        char proc[32];
        bool live;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->root = AP_PROBE_ROOT_NULL;
        w->proc_cgroup_fd = w->mountinfo_fd = -1;
        w->ctr_fds[0] = w->ctr_fds[1] = w->ctr_fds[2] = -1;
        r = ap_config_copy(config, &w->config);
        if (r < 0)
                return r;
        w->affinity_every = w->config->interval_ms >= AP_WATCH_AFFINITY_MS || w->config->interval_ms == 0
                                    ? 1
                                    : AP_WATCH_AFFINITY_MS / w->config->interval_ms;
        live = !w->config->root;
        r = ap_probe_root_open(live ? "/" : w->config->root, w->config->pid, live, &w->root);
        if (r < 0)
                return r;
        /* A given root is taken as plain files; on cgroupfs the nlink check is merely redundant. */
        w->plain_files = !live;

        (void)snprintf(w->mountinfo_path, sizeof(w->mountinfo_path), "%s/mountinfo",
                       ap_probe_proc_dir(&w->root, proc, sizeof(proc)));
        w->mountinfo_fd = ap_open_at(w->root.root_fd, w->mountinfo_path, O_RDONLY);
        if (w->mountinfo_fd >= 0)
                w->mountinfo_pollable = fstatfs(w->mountinfo_fd, &sfs) == 0 &&
                                        sfs.f_type == PROC_SUPER_MAGIC;
        if (!w->config->cgroup_dir) {
                r = ap_proc_cgroup_open(&w->root);
                w->proc_cgroup_fd = r >= 0 ? r : -1;
        }

        r = resolve(w);
        if (r < 0)
                return r;
        if (!read_once(w, &w->last)) {
                /* Odd files at start: start from what the readable levels say, as detection
                 * does; the first good tick reports the change. */
                w->last.flags = AP_WATCH_FAILED;
        }
        *ret = AP_TAKE_PTR(w);
        return 0;
}

ApWatch *ap_watch_free(ApWatch *w)
{
        if (!w)
                return NULL;
        drop_model(w);
        w->proc_cgroup_fd = ap_close(w->proc_cgroup_fd);
        w->mountinfo_fd = ap_close(w->mountinfo_fd);
        ap_probe_root_done(&w->root);
        autoprocs_config_free(w->config);
        free(w);
        return NULL;
}

int ap_watch_cpu_stat(ApWatch *w, uint64_t *ret_periods, uint64_t *ret_throttled,
                      uint64_t *ret_usage_ns)
{
        ApCpuStat st = {};
        int r;

        if (!w->last.has_limit || w->binding >= w->chain.n)
                return -ENODATA;
        r = ap_cpu_stat_read(&w->root, w->chain.levels[w->binding].dir, NULL, &st, NULL);
        if (r < 0)
                return r;
        if (r > 0 || !st.has_throttling)
                return -ENODATA;
        *ret_periods = st.nr_periods;
        *ret_throttled = st.nr_throttled;
        *ret_usage_ns = st.has_usage ? st.usage_usec * 1000u : 0;
        return 0;
}

static int open_in(const ApWatch *w, const char *dir, const char *name)
{
        _cleanup_free_ char *path = ap_path_join_rel(dir, name);
        int fd;

        if (!path)
                return -1;
        fd = ap_open_at(w->root.mnt_fd, path, O_RDONLY);
        return fd >= 0 ? fd : -1;
}

static void counters_open(ApWatch *w, size_t level)
{
        const ApCgroupModel *m = &w->model;
        const char *stat_dir = w->chain.levels[level].dir;

        counters_close(w);
        w->ctr_fds[0] = open_in(w, stat_dir, "cpu.stat");
        if (m->cpu.version == 1 && m->cpuacct.version == 1 && m->cpuacct.dir)
                w->ctr_fds[1] = open_in(w, m->cpuacct.top && m->cpu.top && strcmp(m->cpuacct.top, m->cpu.top) == 0
                                                   ? stat_dir : m->cpuacct.dir,
                                        "cpuacct.usage");
        if (m->unified.version == 2 && m->unified.dir)
                w->ctr_fds[2] = open_in(w, m->unified.dir, "cpu.pressure");
        w->ctr_open = true;
        w->ctr_level = level;
}

/* pread the whole small file @fd into @buf; on plain files an unlinked one reads as failed. */
static ssize_t counter_read(const ApWatch *w, int fd, char *buf, size_t size)
{
        struct stat st;
        ssize_t n;

        if (fd < 0)
                return -ENOENT;
        if (w->plain_files && (fstat(fd, &st) < 0 || st.st_nlink == 0))
                return -ENOENT;
        n = ap_pread_all(fd, buf, size - 1);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

int ap_watch_counters(ApWatch *w, ApWatchCounters *ret)
{
        char buf[2048];
        size_t level;
        ssize_t n;
        bool stale = false;

        *ret = (ApWatchCounters){};
        if (!w->have_model || w->chain.n == 0)
                return -ENODATA;
        level = w->last.has_limit && w->binding < w->chain.n ? w->binding : 0;
        if (!w->ctr_open || w->ctr_level != level)
                counters_open(w, level);
        n = counter_read(w, w->ctr_fds[0], buf, sizeof(buf));
        if (n >= 0 && ap_cpu_stat_parse(buf, (size_t)n, &ret->stat) == 0)
                ret->has_stat = ret->stat.has_throttling || ret->stat.has_usage;
        stale = stale || (n < 0 && w->ctr_fds[0] >= 0);
        if (w->ctr_fds[1] >= 0 && !ret->stat.has_usage) {
                uint64_t us;

                n = counter_read(w, w->ctr_fds[1], buf, sizeof(buf));
                if (n >= 0 && ap_cpuacct_usage_parse(buf, (size_t)n, &us) == 0) {
                        ret->stat.has_usage = true;
                        ret->stat.usage_usec = us;
                        ret->has_stat = true;
                }
                stale = stale || n < 0;
        }
        if (w->ctr_fds[2] >= 0) {
                n = counter_read(w, w->ctr_fds[2], buf, sizeof(buf));
                ret->has_psi = n >= 0 && ap_psi_parse(buf, (size_t)n, &ret->psi) == 0;
                stale = stale || n < 0;
        }
        /* A file that failed (ENODEV: its cgroup went) is opened again next time. */
        if (stale)
                counters_close(w);
        return 0;
}

const ApWatchResult *ap_watch_last(const ApWatch *w)
{
        return &w->last;
}

static void (*confirm_hook)(void *userdata);
static void *confirm_hook_userdata;

void ap_watch_set_confirm_hook(void (*fn)(void *userdata), void *userdata)
{
        confirm_hook = fn;
        confirm_hook_userdata = userdata;
}

static void sleep_ns(uint64_t ns)
{
        struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };

        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
                ;
}

int ap_watch_tick(ApWatch *w, uint64_t confirm_ns, ApWatchResult *ret)
{
        ApWatchResult res, again;
        unsigned flags = 0;
        bool ok;

        if (w->proc_cgroup_fd >= 0 && w->have_model) {
                int m = ap_cgroup_model_moved(&w->model, w->proc_cgroup_fd);

                /* < 0: unreadable now (the pid exited?): a fresh resolution will say. */
                if (m > 0)
                        flags |= AP_WATCH_MOVED;
                else if (m < 0)
                        flags |= AP_WATCH_RERESOLVED;
        }
        if (mountinfo_changed(w))
                flags |= AP_WATCH_REMOUNTED;
        if (flags)
                (void)resolve(w); /* also re-reads the affinity */
        else if (++w->affinity_age >= w->affinity_every)
                read_affinity(w);

        ok = read_once(w, &res);
        if (!ok) {
                /* Something changed under an open fd: resolve afresh and read once more. */
                flags |= AP_WATCH_RERESOLVED;
                (void)resolve(w);
                ok = read_once(w, &res);
        }
        if (ok && confirm_ns > 0 && !same_reading(&res, &w->last)) {
                /* A change: read again a moment later and believe it only if it holds. */
                sleep_ns(confirm_ns);
                if (confirm_hook)
                        confirm_hook(confirm_hook_userdata);
                if (!read_once(w, &again) || !same_reading(&res, &again)) {
                        /* In flux (a v1 quota/period pair half written): decide next tick. */
                        *ret = w->last;
                        ret->flags = flags;
                        return 0;
                }
        }
        if (!ok) {
                res.procs = 0;
                res.flags = flags | AP_WATCH_FAILED;
                *ret = res;
                w->last.flags = res.flags;
                return 0;
        }
        if (!same_reading(&res, &w->last) || (w->last.flags & AP_WATCH_FAILED))
                flags |= AP_WATCH_LIMIT_CHANGED;
        res.flags = flags;
        w->last = res;
        *ret = res;
        return 0;
}
