/* SPDX-License-Identifier: MIT */
/*
 * The cgroup v2 side of `autoprocs run` (run-cgroup2.c): one directory below the cgroup2 mount,
 * made and removed with plain file operations, leaving the hierarchy as it was found.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ApRunCg2 {
        char *mnt;            /* the cgroup2 mount point ("/sys/fs/cgroup") */
        char *own;            /* our own cgroup's directory when we started */
        char *dir;            /* the new cgroup: mnt/NAME */
        char added[32];       /* controllers we enabled in mnt's cgroup.subtree_control ("+cpu +cpuset") */
        bool self_moved;      /* we moved ourselves into dir (the parent held only us) */
} ApRunCg2;

#define AP_RUN_CG2_NULL ((ApRunCg2){ 0 })

/*
 * Create mnt/@name with cpu.max "@quota_us @period_us" (and cpuset.cpus @cpuset when not NULL).
 * @own_path is our cgroup as /proc/self/cgroup gives it ("/" in a container's namespace root).
 * The cpu (and cpuset) controller is enabled in mnt's cgroup.subtree_control only where it is
 * missing, and undone by ap_run_cg2_remove().  When the mount's root cgroup holds processes (the
 * root of a container's cgroup namespace: v2 gives controllers to children only of a cgroup without
 * processes) and we are its only process, we move ourselves into the new cgroup first.
 * On failure nothing is left behind and *ret_why says what failed in words (static text or @why).
 * @retval 0  @retval -EACCES/-EPERM/-EROFS not permitted  @retval -EBUSY the cgroup holds other
 * processes  @retval -errno another failure
 */
int ap_run_cg2_create(const char *mnt, const char *own_path, const char *name, uint64_t quota_us,
                      uint64_t period_us, const char *cpuset, ApRunCg2 *ret, char *why, size_t why_size);
/* Move @pid into the new cgroup.  @retval 0  @retval -errno */
int ap_run_cg2_attach(const ApRunCg2 *cg, pid_t pid);
/*
 * Undo ap_run_cg2_create(): processes left in the cgroup go to our own cgroup, we move back, the
 * directory is removed and the subtree_control restored.  Safe on AP_RUN_CG2_NULL.
 * @retval 0  @retval -errno the first step that failed (the others are still tried)
 */
int ap_run_cg2_remove(ApRunCg2 *cg);
