/* SPDX-License-Identifier: MIT */
/*
 * The probe root (probe-root.c): the directory fds every probe reads below, so that no probe ever
 * opens an absolute path.  Production opens "/", tests a fixture tree, --root DIR a copy.
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
 *   mnt_fallback  proc/PID/root could not be opened (EACCES: another user's process), so mount
 *            points are resolved under root_fd instead (the caller should warn).
 */
typedef struct ApProbeRoot {
        int root_fd;
        int mnt_fd;
        int pid;
        bool live;
        bool mnt_fallback;
} ApProbeRoot;

#define AP_PROBE_ROOT_NULL ((ApProbeRoot){ .root_fd = -1, .mnt_fd = -1 })

/*
 * Open @dir (the caller's entry point decides it: "/" or a fixture/--root directory) for @pid
 * (0 = self).  @live says whether @dir is the live system (affinity by system call, and with a
 * pid the mount points are resolved under proc/PID/root).
 * @retval 0  @retval -ESRCH no proc/PID below @dir  @retval -errno @dir cannot be opened
 */
int ap_probe_root_open(const char *dir, int pid, bool live, ApProbeRoot *ret);
void ap_probe_root_done(ApProbeRoot *root);
/* "proc/self" or "proc/PID" into @buf (size >= 32); returns @buf. */
char *ap_probe_proc_dir(const ApProbeRoot *root, char *buf, size_t size);
