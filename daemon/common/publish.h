/* SPDX-License-Identifier: MIT */
/*
 * --publish DIR: one environment file per target, DIR/<name>.env, holding the variables that
 * `autoprocs exec` sets (AUTOPROCS_PROCS, GOMAXPROCS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
 * MKL_NUM_THREADS, UV_THREADPOOL_SIZE), so that an application container sharing DIR (an
 * emptyDir volume) can source it.  Written to a temporary file in DIR and renamed over the old
 * one: a reader sees the old or the new file, never half of one.  Mode 0644 whatever the umask.
 *
 * <name> is the target label with every character outside [A-Za-z0-9._-] replaced by '_', and a
 * leading '.' by '_' (so no published name starts with '.'): self -> self.env, pid:42 ->
 * pid_42.env, cgroup:/sys/fs/cgroup/cpu/app -> cgroup__sys_fs_cgroup_cpu_app.env.  The mapping is
 * kept as it is (scripts source these names) and is not one-to-one: root:/t/a/b and root:/t/a_b
 * both map to root__t_a_b.env, so the configuration refuses two targets with one name
 * (daemon-config.c) and a label longer than 251 bytes.
 *
 * A directory another container can write to is hostile ground.  The directory is opened once
 * (O_DIRECTORY | O_NOFOLLOW: a symlink in its place is refused) and every file is made relative
 * to that fd.  The temporary file is ".<name>.<64 random bits>.tmp", created O_CREAT | O_EXCL |
 * O_NOFOLLOW (a name already there, file, symlink or hard link, makes it draw another name, up to
 * 16 times), so nothing planted is ever opened, truncated or chmod'ed; rename() then replaces the
 * entry <name> itself, whatever it was.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The file name (without directory) for @target, into @buf.  @retval 0  @retval -ENAMETOOLONG */
int ap_publish_file_name(const char *target, char *buf, size_t size);

/* The file's content for @procs processors (and, when @has_limit, the limit in cores as a comment
 * variable AUTOPROCS_LIMIT_CPUS).  malloc'd; NULL on ENOMEM. */
char *ap_publish_content(const char *target, unsigned procs, bool has_limit, double limit_cores);

/* The publish directory, opened once (refcounted: a reload swaps it while tasks still write). */
typedef struct ApPublishDir ApPublishDir;

/* @retval 0  @retval -ELOOP/-ENOTDIR @path is a symlink / not a directory  @retval -errno */
int ap_publish_dir_open(const char *path, ApPublishDir **ret);
ApPublishDir *ap_publish_dir_ref(ApPublishDir *d);
ApPublishDir *ap_publish_dir_unref(ApPublishDir *d);
/* The path it was opened as (for messages); valid while a reference is held. */
const char *ap_publish_dir_path(const ApPublishDir *d);

/* Write @content as <dir>/<name of target>.env atomically.  @retval 0  @retval -errno */
int ap_publish_write(const ApPublishDir *dir, const char *target, const char *content);
