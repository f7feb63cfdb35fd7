/* SPDX-License-Identifier: MIT */
/*
 * The probe interface: every CPU fact is read by a probe made of two halves,
 *   - a pure parser   ap_<what>_parse(const char *buf, size_t len, ..., ret)   (strings in, struct out;
 *     no I/O, no allocation beyond the result; fuzzed and table-tested);
 *   - a thin reader   ap_<what>_read(const ApProbeRoot *root, ..., ret, warn)  (opens files relative to
 *     the root's directory fds with openat(); never an absolute path).
 * Probes never decide policy (lib/limits.c does) and never log: every file that is missing,
 * unreadable or malformed becomes one "FILE: why" line in an ApWarnings the caller owns.
 *
 * Return convention (STYLE.md): 0 = measured, AP_PROBE_NOT_APPLICABLE (> 0) = nothing to report
 * (e.g. no cgroup file for this fact; the reason is in the warnings), -errno = failure (only
 * -ENOMEM and bad arguments in practice: one odd file never fails a probe).
 *
 * Headers (one per module):
 *   cgroup-path.h  the single parser of /proc/<pid>/cgroup and /proc/<pid>/mountinfo, and the
 *                  resolved model (which hierarchy holds cpu, where the process's directory is);
 *   cgroup-limit.h cpu.max (v2) and cpu.cfs_quota_us/cpu.cfs_period_us (v1) parsers, and the limit
 *                  chain: the walk from the process cgroup up to the mount root, kept open for a
 *                  cheap pread re-read (the watcher's hot path);
 *   cpuset.h       CPU lists, affinity (sched_getaffinity, growing mask), cpuset, online CPUs;
 *   cpustat.h      cpu.stat and cpuacct.usage;
 *   psi.h          cpu.pressure.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

/* A documented "nothing to report" outcome of a probe (STYLE.md: > 0, never forwarded). */
#define AP_PROBE_NOT_APPLICABLE 1

/* Largest procfs/cgroupfs file a probe reads (mountinfo of a big host is ~100 KiB). */
#define AP_PROBE_MAX_FILE (16u * 1024u * 1024u)

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

/*
 * Warnings: "FILE: why" lines, appended by probes and by detect.c.  Never fails: on ENOMEM a
 * warning is dropped and ->dropped counts it.
 */
typedef struct ApWarnings {
        char **v;
        size_t n, cap;
        size_t dropped;
} ApWarnings;

#define AP_WARNINGS_NULL ((ApWarnings){ 0 })

/* Append one formatted line; @w may be NULL (the warning is discarded). */
void ap_warn(ApWarnings *w, const char *fmt, ...) AP_PRINTF(2, 3);
void ap_warnv(ApWarnings *w, const char *fmt, va_list ap) AP_PRINTF(2, 0);
void ap_warnings_done(ApWarnings *w);
