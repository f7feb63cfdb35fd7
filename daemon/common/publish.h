/* SPDX-License-Identifier: MIT */
/*
 * --publish DIR: one environment file per target, DIR/<name>.env, holding the variables that
 * `autoprocs exec` sets (AUTOPROCS_PROCS, GOMAXPROCS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
 * MKL_NUM_THREADS, UV_THREADPOOL_SIZE), so that an application container sharing DIR (an
 * emptyDir volume) can source it.  Written to a temporary file in DIR and renamed over the old
 * one: a reader sees the old or the new file, never half of one.  Mode 0644 whatever the umask.
 *
 * <name> is the target label with every character outside [A-Za-z0-9._-] replaced by '_':
 * self -> self.env, pid:42 -> pid_42.env, cgroup:/sys/fs/cgroup/cpu/app -> cgroup__sys_fs_cgroup_cpu_app.env.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The file name (without directory) for @target, into @buf.  @retval 0  @retval -ENAMETOOLONG */
int ap_publish_file_name(const char *target, char *buf, size_t size);

/* The file's content for @procs processors (and, when @has_limit, the limit in cores as a comment
 * variable AUTOPROCS_LIMIT_CPUS).  malloc'd; NULL on ENOMEM. */
char *ap_publish_content(const char *target, unsigned procs, bool has_limit, double limit_cores);

/* Write @content as @dir/<name of target>.env atomically.  @retval 0  @retval -errno */
int ap_publish_write(const char *dir, const char *target, const char *content);
