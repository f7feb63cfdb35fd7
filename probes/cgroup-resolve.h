/* SPDX-License-Identifier: MIT */
/*
 * The resolved cgroup model (cgroup-resolve.c): from the parsed /proc/<pid>/cgroup and mountinfo
 * (cgroup-path.h), which mount holds each hierarchy we care about and which directory below it is
 * the process's cgroup.  The rules are listed in cgroup-path.h; the search below a ".." root is
 * bounded by the two constants here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "probes/cgroup-path.h"
#include "probes/probe.h"

#define AP_CGROUP_SEARCH_MAX_DEPTH 16
#define AP_CGROUP_SEARCH_MAX_DIRS 4096

/* ---- the resolved model ------------------------------------------------------------------- */

enum {
        AP_LOC_SUFFIX = 1 << 0,    /* found by the longest existing suffix (root not a prefix) */
        AP_LOC_SEARCHED = 1 << 1,  /* found by cgroup.procs search (".." root or path) */
        AP_LOC_NO_CPU_CTRL = 1 << 2, /* v2: cgroup.controllers lacks cpu */
};

/*
 * One hierarchy as the process sees it.  version 0 = not found (every string NULL).
 * Directory paths here are relative to the probe root's mnt_fd, without a leading '/', "." for the
 * top: dir is the process's cgroup directory, top the mount point (where the walk stops).
 * Levels between: dir, dirname(dir), ... , top.  hier_path names the process cgroup inside the
 * hierarchy: ROOT joined with the part of dir below top ("/kubepods/pod1"; ".." components kept
 * when ROOT has them).  When the directory was found by search below a ".." root, hierarchy paths
 * are given relative to the process's cgroup namespace root, as /proc/<pid>/cgroup does ("/.." =
 * the parent of the namespace root; ns_rel says where that root is below top).
 */
typedef struct ApCgroupLoc {
        int version;          /* 0, 1 or 2 */
        unsigned flags;
        char *path;           /* as in /proc/<pid>/cgroup (cgroup_dir mode: hier_path) */
        char *mount_root;     /* ROOT field of the chosen mount */
        char *top;            /* mount point, relative ("sys/fs/cgroup/cpu") */
        char *dir;            /* process directory, relative ("sys/fs/cgroup/cpu/kubepods/pod1") */
        char *hier_path;
        char *ns_rel;         /* AP_LOC_SEARCHED: the directory (relative to top) of the process's
                               * cgroup namespace root; hierarchy paths are then namespace-relative
                               * ("/.." for the parent of that root).  NULL otherwise. */
} ApCgroupLoc;

typedef struct ApCgroupModel {
        char *proc_cgroup_text;  /* the raw /proc/<pid>/cgroup read (move detection); NULL in dir mode */
        size_t proc_cgroup_len;
        ApProcCgroup lines;
        ApMountTable mounts;
        ApCgroupLoc cpu;         /* the hierarchy of the cpu controller (v1 or v2); version 0 = none */
        ApCgroupLoc cpuacct;     /* v1 cpuacct (usage) when cpu is v1; same dir when co-mounted */
        ApCgroupLoc cpuset;      /* v1 cpuset or the v2 location */
        ApCgroupLoc unified;     /* the v2 location (PSI, v2 cpu.stat), also in hybrid mode */
} ApCgroupModel;

/*
 * Read and resolve the model of the process of @root (proc/<self|PID>/{cgroup,mountinfo}).
 * Never fails on odd files: missing pieces are version 0 with warnings.
 * @retval 0  @retval -ENOMEM
 */
int ap_cgroup_model_read(const ApProbeRoot *root, ApCgroupModel *ret, ApWarnings *warn);
/*
 * Another process (@pid > 0) on the live system @dir ("/"): open its probe root and read its
 * model from the view that shows its cgroup (cgroup-view.c): ours when the cpu directory found
 * there lists the pid in cgroup.procs, else its own through proc/PID/root.
 * @retval 0 (*ret_root and *ret filled; the caller releases both)  @retval -ESRCH no such process
 * @retval -EACCES neither view: our mounts do not show its cgroup and proc/PID/root is closed to us
 * @retval -ENOMEM
 */
int ap_cgroup_model_read_pid(const char *dir, int pid, ApProbeRoot *ret_root, ApCgroupModel *ret,
                             ApWarnings *warn);
/* The same with a mount table the caller already has (a cached, still valid parse of the same
 * process's mountinfo): *mounts is moved into the model (and zeroed) whatever the outcome. */
int ap_cgroup_model_read_with_mounts(const ApProbeRoot *root, ApMountTable *mounts, ApCgroupModel *ret,
                                     ApWarnings *warn);
/*
 * The model of a cgroup directory given directly (autoprocs_config_set_cgroup_dir): @dir is
 * absolute in the mount namespace of @root's process, or relative to root.  Its mount is looked
 * up in that process's mountinfo (longest mount point that is a component prefix of @dir).
 * A @dir that is no directory is taken as a hierarchy path, as detect prints it ("/kubepods/pod1"),
 * and mapped below the mount point of the cpu hierarchy (v1 cpu, else cgroup2) whose root holds it.
 * @retval 0  @retval -ENOMEM  @retval -ENOTDIR neither a directory nor a path of a mounted hierarchy
 */
int ap_cgroup_model_for_dir(const ApProbeRoot *root, const char *dir, ApCgroupModel *ret,
                            ApWarnings *warn);
void ap_cgroup_model_done(ApCgroupModel *m);

/* Pure resolution (no I/O but the existence checks through @root->mnt_fd), exposed for tests:
 * resolve the hierarchy of @controller (NULL = v2) from parsed inputs. */
int ap_cgroup_resolve(const ApProbeRoot *root, const ApProcCgroup *pc, const ApMountTable *mt,
                      const char *controller, ApCgroupLoc *ret, ApWarnings *warn);
void ap_cgroup_loc_done(ApCgroupLoc *loc);

/*
 * Move detection for the watcher: open proc/<self|PID>/cgroup once (-errno on failure), then
 * ap_cgroup_model_moved() preads it and compares with the text the model was resolved from.
 * @retval 0 same  @retval 1 changed (re-resolve with ap_cgroup_model_read)  @retval -errno
 * Cost: one pread of a ~200-byte procfs file, no allocation.
 */
int ap_proc_cgroup_open(const ApProbeRoot *root);
int ap_cgroup_model_moved(const ApCgroupModel *m, int proc_cgroup_fd);
