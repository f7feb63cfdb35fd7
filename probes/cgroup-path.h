/* SPDX-License-Identifier: MIT */
/*
 * The one parser of /proc/<pid>/cgroup and /proc/<pid>/mountinfo, and the model resolved from them:
 * for each hierarchy we care about (cpu, cpuacct, cpuset, and the unified v2 one), which mount holds
 * it and which directory below that mount is the process's cgroup.
 *
 * Rules:
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

#include "probes/probe.h"

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
 * for shape only: fields, ids, the "-" separator; their root may be "net:[N]" as nsfs has it).
 * @name starts each warning ("/proc/self/mountinfo: line 7 skipped: ...").
 * @retval 0  @retval -ENOMEM */
int ap_mountinfo_parse(const char *buf, size_t len, const char *name, ApMountTable *ret,
                       ApWarnings *warn);
void ap_mount_table_done(ApMountTable *mt);
/* Deep copy.  @retval 0  @retval -ENOMEM */
int ap_mount_table_copy(const ApMountTable *src, ApMountTable *ret);
/* Undo mountinfo's octal escapes of one field of @len bytes into a new string.
 * @retval 0  @retval -EINVAL bad escape or NUL  @retval -ENOMEM */
int ap_mountinfo_unescape(const char *s, size_t len, char **ret);
