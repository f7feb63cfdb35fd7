/* SPDX-License-Identifier: MIT */
/*
 * A process-wide cache of this process's parsed mountinfo, for autoprocs_detect() on the live
 * system.  Why: reading /proc/self/mountinfo is the most expensive step of a detection (the kernel
 * renders every mount, ~30 µs on a small host, far more on a busy node), while mounts change
 * rarely.  Validity is the kernel's word, not a timer: the kept fd polls POLLPRI/POLLERR as soon as
 * the mount namespace changed since the last poll (proc(5), "/proc/pid/mountinfo"), and then the
 * table is read and parsed again.  A fork() child notices the pid change and re-opens (a shared
 * open file would hand the parent's notification to whichever polls first), and so does a process
 * whose mount namespace changed (unshare, setns: the fd keeps describing the old one).
 * A mountinfo with malformed lines is never cached (so its warnings reach every caller).
 */
#pragma once

#include "probes/cgroup-path.h"

/*
 * A copy of the current table of @root_fd's "proc/self/mountinfo" (@root_fd must be the live "/").
 * Thread-safe.  @retval 0 (*ret is the caller's)  @retval AP_PROBE_NOT_APPLICABLE not cacheable
 * now (unreadable or malformed: read it the ordinary way)  @retval -ENOMEM
 */
int ap_mountinfo_cache_copy(int root_fd, ApMountTable *ret);
