/* SPDX-License-Identifier: MIT */
/*
 * The probe root (probe-root.c): the directory fds every probe reads below, so that no probe ever
 * opens an absolute path.  Production opens "/", tests a fixture tree, --root DIR a copy.  Also
 * the check that a cgroup directory holds a process (cgroup.procs), which decides whether a view
 * of another process's cgroup is to be believed (cgroup-view.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Where the probes read from.  Built once by ap_probe_root_open() and passed down by pointer.
 *   root_fd  procfs and sysfs files are opened relative to it ("/" in production, a fixture tree
 *            in tests, DIR with --root);
 *   mnt_fd   mount points named in mountinfo are resolved relative to it: root_fd, or
 *            proc/PID/root when a pid is described on the live system (--pid without --root);
 *   pid      0 = self ("proc/self/..."), else "proc/PID/...";
 *   live     no root was given: sched_getaffinity() may be used; else affinity comes from files;
 *   own_mounts  a pid's cgroup seen through our own mount namespace (ap_probe_root_open_own):
 *            its mountinfo is ours (proc/self/mountinfo) and mount points resolve under root_fd.
 *            A directory found this way is the process's only where its cgroup.procs lists the
 *            pid (ap_cgroup_procs_lists); in a container it is usually our own cgroup's.
 */
typedef struct ApProbeRoot {
        int root_fd;
        int mnt_fd;
        int pid;
        bool live;
        bool own_mounts;
} ApProbeRoot;

#define AP_PROBE_ROOT_NULL ((ApProbeRoot){ .root_fd = -1, .mnt_fd = -1 })

/*
 * Open @dir (the caller's entry point decides it: "/" or a fixture/--root directory) for @pid
 * (0 = self).  @live says whether @dir is the live system (affinity by system call, and with a
 * pid the mount points are resolved under proc/PID/root).
 * @retval 0  @retval -ESRCH no proc/PID below @dir (live)
 * @retval -EACCES live, pid > 0: proc/PID/root cannot be entered (ptrace read access: another uid
 *         or gid, or the process has capabilities we lack)  @retval -errno @dir cannot be opened
 */
int ap_probe_root_open(const char *dir, int pid, bool live, ApProbeRoot *ret);
/*
 * The other view of @pid (> 0) on the live system @dir: its proc files, but our own mount table
 * and mount points (own_mounts).  Sees every ancestor we can see (the host, a node agent with the
 * host's cgroupfs), and needs no access to proc/PID/root; what it resolves must be verified.
 * @retval 0  @retval -ESRCH no proc/PID  @retval -errno
 */
int ap_probe_root_open_own(const char *dir, int pid, ApProbeRoot *ret);
void ap_probe_root_done(ApProbeRoot *root);
/* "proc/self" or "proc/PID" into @buf (size >= 32); returns @buf. */
char *ap_probe_proc_dir(const ApProbeRoot *root, char *buf, size_t size);
/* Does @dir/cgroup.procs, relative to @fd, list @pid (as our pid namespace numbers it)?  false
 * also when the file cannot be read. */
bool ap_cgroup_procs_lists(int fd, const char *dir, int pid);
