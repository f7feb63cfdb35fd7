/* SPDX-License-Identifier: MIT */
/*
 * The one parser of /proc/<pid>/cgroup and /proc/<pid>/mountinfo, and the model resolved from them:
 * for each hierarchy we care about (cpu, cpuacct, cpuset, and the unified v2 one), which mount holds
 * it and which directory below that mount is the process's cgroup.
 *
 * Rules (research/cgroup-detection.md, section 3):
 *   - /proc/<pid>/cgroup lines "ID:CONTROLLERS:PATH" are split on the first two ':' only (a path may
 *     contain ':'); controller tokens are matched exactly ("cpu" in "cpu,cpuacct" or "cpuacct,cpu",
 *     never in "cpuacct"); "0::PATH" is the v2 line.  A v1 line with the cpu token beats "0::".
 *   - mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS",
 *     0..n optional fields ended by a lone "-", super options are the rest of the line; the octal
 *     escapes \ooo (\040 space, \011 tab, \012 newline, \134 backslash) are undone in ROOT and
 *     MOUNTPOINT.  A bad line is skipped with a warning.
 *   - A v1 mount holds controller C when its fstype is "cgroup" and its super options carry the
 *     token C; the v2 mount is fstype "cgroup2".  For v2 to count as the cpu hierarchy, the mount's
 *     cgroup.controllers must list "cpu" where readable.
 *   - Mount choice: the mount whose ROOT is the longest whole-component prefix of the path wins;
 *     ties prefer a mount point under sys/fs/cgroup, then a mount whose directory exists, then the
 *     later line (it shadows an earlier mount on the same point).
 *   - Translation: ROOT a prefix => mount point + rest of the path.  ROOT (or the path) with a ".."
 *     component (a cgroup namespace over inherited mounts, "unshare -C"): the process is somewhere
 *     below the mount point, found by searching for the directory whose cgroup.procs lists the pid
 *     (bounded: AP_CGROUP_SEARCH_MAX_DEPTH, AP_CGROUP_SEARCH_MAX_DIRS); not found => unknown, with a
 *     warning (never the mount root as ours).  ROOT not a prefix => the longest suffix of the path
 *     that exists below the mount point (as the JDK), flagged with a warning; none => unknown.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "probe.h"

#define AP_CGROUP_SEARCH_MAX_DEPTH 16
#define AP_CGROUP_SEARCH_MAX_DIRS 4096

/* ---- /proc/<pid>/cgroup ------------------------------------------------------------------- */

typedef struct ApCgroupLine {
        unsigned id;          /* hierarchy id; 0 for v2 */
        char *controllers;    /* "cpu,cpuacct", "name=systemd", "" for v2 */
        char *path;           /* as written ("/kubepods/pod1/ctr", may contain ':') */
} ApCgroupLine;

typedef struct ApProcCgroup {
        ApCgroupLine *v;
        size_t n;
} ApProcCgroup;

/* Parse @len bytes of /proc/<pid>/cgroup text (NULs allowed: such lines are rejected).  Bad lines
 * are skipped with a warning naming @name.  @retval 0 (maybe zero lines)  @retval -ENOMEM */
int ap_proc_cgroup_parse(const char *buf, size_t len, const char *name, ApProcCgroup *ret,
                         ApWarnings *warn);
void ap_proc_cgroup_done(ApProcCgroup *pc);
/* The v1 line whose controller list has the exact token @controller, or with @controller NULL
 * the v2 "0::" line; NULL when there is none.  Borrowed from @pc. */
const ApCgroupLine *ap_proc_cgroup_find(const ApProcCgroup *pc, const char *controller);
/* True when the comma-separated list @list holds the exact token @token. */
bool ap_token_in_list(const char *list, const char *token);

/* ---- /proc/<pid>/mountinfo ---------------------------------------------------------------- */

typedef struct ApMount {
        unsigned id, parent;
        char *root;           /* unescaped */
        char *mount_point;    /* unescaped, absolute in the process's mount namespace */
        char *fstype;
        char *super_opts;     /* rest of the line (may contain spaces) */
} ApMount;

typedef struct ApMountTable {
        ApMount *v;
        size_t n;
} ApMountTable;

/* Parse @len bytes of mountinfo.  Only cgroup and cgroup2 mounts are kept (others are checked
 * for shape only).  @retval 0  @retval -ENOMEM */
int ap_mountinfo_parse(const char *buf, size_t len, const char *name, ApMountTable *ret,
                       ApWarnings *warn);
void ap_mount_table_done(ApMountTable *mt);
/* Deep copy.  @retval 0  @retval -ENOMEM */
int ap_mount_table_copy(const ApMountTable *src, ApMountTable *ret);
/* Undo mountinfo's octal escapes of one field of @len bytes into a new string.
 * @retval 0  @retval -EINVAL bad escape or NUL  @retval -ENOMEM */
int ap_mountinfo_unescape(const char *s, size_t len, char **ret);

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
/* The same with a mount table the caller already has (a cached, still valid parse of the same
 * process's mountinfo): *mounts is moved into the model (and zeroed) whatever the outcome. */
int ap_cgroup_model_read_with_mounts(const ApProbeRoot *root, ApMountTable *mounts, ApCgroupModel *ret,
                                     ApWarnings *warn);
/*
 * The model of a cgroup directory given directly (autoprocs_config_set_cgroup_dir): @dir is
 * absolute in the mount namespace of @root's process, or relative to root.  Its mount is looked
 * up in that process's mountinfo (longest mount point that is a component prefix of @dir).
 * @retval 0  @retval -ENOMEM
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
