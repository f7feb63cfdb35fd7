/* SPDX-License-Identifier: MIT */
/*
 * The probe interface: every CPU fact is read by a probe made of two halves,
 *   - a pure parser   ap_<what>_parse(const char *buf, size_t len, ..., ret)   (strings in, struct out;
 *     no I/O, no allocation beyond the result; fuzzed and table-tested);
 *   - a thin reader   ap_<what>_read(const ApProbeRoot *root, ..., ret, warn)  (opens files relative to
 *     the root's directory fds with openat(); never an absolute path).
 * Probes never decide policy (lib/policy.c does) and never log: every file that is missing,
 * unreadable or malformed becomes one "FILE: why" line in an ApWarnings the caller owns.
 *
 * Return convention : 0 = measured, AP_PROBE_NOT_APPLICABLE (> 0) = nothing to report
 * (e.g. no cgroup file for this fact; the reason is in the warnings), -errno = failure (only
 * -ENOMEM and bad arguments in practice: one odd file never fails a probe).
 *
 * Headers (one per source file; this one holds the constants every probe shares and includes the
 * two things every probe takes: probe-root.h, where to read, and warnings.h, where to report):
 *   cgroup-path.h    the single parser of /proc/<pid>/cgroup and /proc/<pid>/mountinfo;
 *   cgroup-resolve.h the resolved model (which hierarchy holds cpu, where the process's directory is);
 *   cgroup2.h        v2 cpu.max: one level's setting and its parser;
 *   cgroup1.h        v1 cpu.cfs_quota_us and cpu.cfs_period_us;
 *   cgroup-limit.h   the limit chain: the walk from the process cgroup up to the mount root, kept
 *                    open for a cheap pread re-read (the watcher's hot path);
 *   cpuset.h         CPU lists, affinity (sched_getaffinity, growing mask), cpuset, online CPUs;
 *   cpustat.h        cpu.stat and cpuacct.usage;
 *   psi.h            cpu.pressure.
 */
#pragma once

#include "probes/probe-root.h"
#include "probes/warnings.h"

/* A documented "nothing to report" outcome of a probe (> 0, never forwarded). */
#define AP_PROBE_NOT_APPLICABLE 1

/* Largest procfs/cgroupfs file a probe reads (mountinfo of a big host is ~100 KiB). */
#define AP_PROBE_MAX_FILE (16u * 1024u * 1024u)
