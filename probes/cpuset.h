/* SPDX-License-Identifier: MIT */
/*
 * CPUs a process may run on: the CPU list syntax ("0-3,8,10-11", as in cpuset.cpus, Cpus_allowed_list
 * and sys/devices/system/cpu/online), the affinity mask (sched_getaffinity with a mask that grows
 * until the kernel accepts it: hosts with more than 1024 CPUs), the cpuset of the process cgroup
 * (v2 cpuset.cpus.effective, v1 cpuset.cpus) and the online CPUs as the last fallback.
 * Kernel: Documentation/admin-guide/cgroup-v2.rst "Cpuset Interface Files", cpuset(7).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/cgroup-path.h"
#include "probes/cgroup-resolve.h"
#include "probes/probe.h"

/* CPU numbers above this are rejected as hostile (the kernel's NR_CPUS limit is 8192 today). */
#define AP_CPU_ID_MAX 65535u

/* A set of CPU numbers: a bitmap of @nbits bits (heap). */
typedef struct ApCpuSet {
        uint64_t *bits;
        size_t nbits;
} ApCpuSet;

#define AP_CPU_SET_NULL ((ApCpuSet){ 0 })

/*
 * Parse a CPU list: comma-separated "N" or "N-M" (N <= M), one trailing newline allowed.  An empty
 * list (or just "\n") is an empty set.  Spaces, signs, N > M, ids > AP_CPU_ID_MAX, NULs, empty
 * items => -EINVAL.  @retval 0  @retval -EINVAL  @retval -ENOMEM
 */
int ap_cpu_list_parse(const char *buf, size_t len, ApCpuSet *ret);
void ap_cpu_set_done(ApCpuSet *s);
size_t ap_cpu_set_count(const ApCpuSet *s);
/* @a &= @b. */
void ap_cpu_set_and(ApCpuSet *a, const ApCpuSet *b);

/* "Cpus_allowed_list:" of a proc/PID/status text.  @retval 0  @retval -ENOENT no such line
 * @retval -EINVAL malformed list */
int ap_status_cpus_allowed_parse(const char *buf, size_t len, ApCpuSet *ret);

/* Where the affinity count came from. */
typedef enum ApAffinitySource {
        AP_AFFINITY_NONE = 0,
        AP_AFFINITY_SYSCALL,      /* sched_getaffinity (live system) */
        AP_AFFINITY_STATUS,       /* proc/PID/status Cpus_allowed_list */
        AP_AFFINITY_ONLINE,       /* sys/devices/system/cpu/online */
} ApAffinitySource;

typedef struct ApAffinity {
        unsigned cpus;            /* CPUs allowed, after the cpuset intersection; 0 = unknown */
        unsigned mask_cpus;       /* before the intersection */
        unsigned cpuset_cpus;     /* CPUs of the cgroup cpuset; 0 = unknown */
        ApAffinitySource source;
} ApAffinity;

/* Live affinity of @pid (0 = self) through a mask grown on EINVAL.  @retval 0  @retval -errno */
int ap_affinity_syscall(int pid, ApCpuSet *ret);
/*
 * The affinity count of @root's process: the syscall on a live root (the kernel keeps it inside
 * the cpuset), else proc/PID/status or sys/devices/system/cpu/online intersected with the cpuset of
 * @cpuset_loc when that is readable (v2 cpuset.cpus.effective, v1 cpuset.cpus; an empty or
 * disjoint cpuset is ignored with a warning).
 * @cpuset_loc may be NULL.  @retval 0  @retval AP_PROBE_NOT_APPLICABLE no count at all
 * @retval -ENOMEM
 */
int ap_affinity_read(const ApProbeRoot *root, const ApCgroupLoc *cpuset_loc, ApAffinity *ret,
                     ApWarnings *warn);

/*
 * Where @aff's count came from, for reporting: true when the cgroup cpuset of @cpuset_loc is what
 * bounds it (its CPUs number aff->cpus and are fewer than the online CPUs), false when the
 * affinity mask (or the status line, or the online list) does.  Reads the cpuset file when @aff
 * does not have its count (live roots) and sys/devices/system/cpu/online; never warns.
 */
bool ap_affinity_is_cpuset(const ApProbeRoot *root, const ApCgroupLoc *cpuset_loc, const ApAffinity *aff);
