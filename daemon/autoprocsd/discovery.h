/* SPDX-License-Identifier: MIT */
/*
 * Discovery of container cgroups (--target kubepods[:DIR], --target cgroup-tree:PATH) and their
 * cheap re-reading.
 *
 * The layout: DIR (a cgroupfs mount point, /sys/fs/cgroup by default) is looked at once: cgroup v2
 * (DIR/cgroup.controllers), or v1 with the cpu hierarchy at DIR/cpu, DIR/cpu,cpuacct or
 * DIR/cpuacct,cpu, cpuacct (usage) co-mounted or at DIR/cpuacct, cpuset at DIR/cpuset, and in
 * hybrid mode the v2 hierarchy at DIR/unified (PSI).  cgroup-tree:PATH finds its hierarchy's top by
 * going up while the parent is a cgroup (has cgroup.procs), then the same layout around it.
 *
 * The tree: the directories of the cpu hierarchy below the discovery roots (kubepods: the
 * "kubepods.slice" and "kubepods" directories of the top; cgroup-tree: PATH) are walked once and
 * then followed with inotify (IN_CREATE/IN_DELETE of subdirectories, which cgroupfs reports for
 * mkdir/rmdir; a new directory is scanned right after its watch is added, so nothing created in
 * between is missed), with a full re-walk (ap_discovery_rescan) as the safety net and after an
 * event queue overflow.  A directory whose name is a container's (kube-name.h) is a container and
 * is not descended into; a runtime's monitor (conmon) is skipped; every other directory is walked.
 *
 * Reading: every directory on a container's way up to the top keeps its files open (pread per
 * read; an fd that cannot be opened -- EMFILE -- is opened, read and closed each time) and is read
 * at most once per tick however many containers share it (pods, QoS classes, kubepods).  Per
 * container and tick: its own cpu.cfs_quota_us (+ cpu.cfs_period_us when the quota changed, and
 * every AP_DISCOVERY_PERIOD_TICKS ticks) or cpu.max,
 * cpu.stat, cpuacct.usage (v1), cpu.pressure, and the cpuset's effective CPUs every
 * AP_DISCOVERY_CPUSET_TICKS ticks.
 *
 * Not thread-safe: one owner (the discovery target's task).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/autoprocsd/kube-name.h"

#define AP_DISCOVERY_CPUSET_TICKS 10u
#define AP_DISCOVERY_PERIOD_TICKS 10u
#define AP_DISCOVERY_MAX_DEPTH 32u
#define AP_DISCOVERY_MAX_DIRS 200000u

typedef struct ApDiscovery ApDiscovery;
typedef struct ApCgNode ApCgNode;

typedef enum ApDiscoveryMode {
        AP_DISCOVERY_KUBEPODS,      /* @dir: a cgroupfs mount point */
        AP_DISCOVERY_TREE,          /* @dir: a cgroup directory */
} ApDiscoveryMode;

/* A container found (@added) or gone; @node stays valid until the callback returns (gone) or
 * until its own removal (added).  Runs inside ap_discovery_process()/_rescan()/_start(). */
typedef void (*ApDiscoveryFn)(ApCgNode *node, bool added, void *userdata);

/* @retval 0  @retval -ENOMEM */
int ap_discovery_new(ApDiscoveryMode mode, const char *dir, ApDiscoveryFn fn, void *userdata,
                     ApDiscovery **ret);
ApDiscovery *ap_discovery_free(ApDiscovery *d);

/*
 * Find the layout and walk the tree (again, after a failure: a kubelet not started yet).
 * @retval 0  @retval -ENOENT no cgroup hierarchy with the cpu controller at dir
 * (*ret_why: static text)  @retval -errno
 */
int ap_discovery_start(ApDiscovery *d, const char **ret_why);
bool ap_discovery_started(const ApDiscovery *d);
/* The inotify fd to poll for POLLIN (-1 before a successful start). */
int ap_discovery_fd(const ApDiscovery *d);
/* Apply the queued inotify events (non-blocking).  @retval number of events  @retval -errno */
int ap_discovery_process(ApDiscovery *d);
/* Walk the whole tree again: add what is new, drop what is gone.  @retval 0  @retval -errno */
int ap_discovery_rescan(ApDiscovery *d);

typedef struct ApDiscoveryStats {
        size_t containers, dirs, watches;
        uint64_t events, rescans, overflows;
        int cgroup_version;         /* of the cpu hierarchy; 0 = no layout found */
} ApDiscoveryStats;
void ap_discovery_stats(const ApDiscovery *d, ApDiscoveryStats *ret);

/* One container's reading at one tick. */
typedef struct ApCgReading {
        bool found;                 /* its directory is still there */
        bool has_limit;
        uint64_t quota_us, period_us;
        const char *limit_cgroup;   /* hierarchy path of the binding cgroup; NULL = unlimited */
        const char *limit_scope;    /* where it is: "container" (its own), "pod", "qos", "kubepods",
                                     * "cgroup" (another ancestor); NULL = unlimited (static text) */
        const char *throttling_cgroup; /* whose cpu.stat gave the throttling (binding, else own) */
        const char *usage_cgroup;   /* whose usage was read (its own) */
        unsigned affinity;          /* effective CPUs of its cpuset; 0 = unknown */
        bool has_throttling;
        uint64_t nr_periods, nr_throttled, throttled_usec;
        bool has_usage;
        uint64_t usage_usec;
        bool has_pressure, has_pressure_full;
        uint64_t pressure_some_usec, pressure_full_usec;
        bool sandbox_hint;          /* cpu.shares 2 (v1) / cpu.weight 1 (v2), no own quota: how the
                                     * runtimes set up a pod's sandbox (pause) container */
} ApCgReading;

/*
 * Read @node (a container) at tick @tick (increase it once per round: directories shared by many
 * containers are read once per tick value).  @check_sandbox also reads cpu.shares/cpu.weight.
 * The strings are borrowed from the tree (valid while @node is).
 */
void ap_discovery_read(ApDiscovery *d, ApCgNode *node, uint64_t tick, bool check_sandbox,
                       ApCgReading *ret);

/* What the name of @node says; its hierarchy path ("/kubepods/pod1/ID"). */
const ApKubePath *ap_cg_node_kube(const ApCgNode *node);
const char *ap_cg_node_path(const ApCgNode *node);
/* The owner's per-container pointer. */
void *ap_cg_node_userdata(const ApCgNode *node);
void ap_cg_node_set_userdata(ApCgNode *node, void *userdata);
