/* SPDX-License-Identifier: MIT */
/*
 * Reading small files relative to a directory fd.  Every path handed here is relative: no code
 * outside the entry points knows "/" (production opens "/" once, tests a fixture root).
 */
#pragma once

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Open @path relative to @dir_fd with @flags, O_CLOEXEC.  Leading '/' in @path are skipped, so an
 * absolute-looking path is still resolved below @dir_fd, and so are symlinks: one that would lead
 * out of @dir_fd (absolute, or ".." above it) is refused, magic links are not followed
 * (ap_open_beneath, open-beneath.h).  @retval fd  @retval -EXDEV a link tried to leave
 * @retval -errno */
int ap_open_at(int dir_fd, const char *path, int flags);

/* The same without the confinement: for the one deliberate step into proc/PID/root (a magic
 * link), nothing else.  @retval fd  @retval -errno */
int ap_open_magic_at(int dir_fd, const char *path, int flags);

/* strerror(-@r) of an ap_open_at() failure, with -EXDEV said as "a link leads out of the root". */
const char *ap_open_strerror(int r);

/* Open @path below @dir_fd read-only without ever blocking (O_NONBLOCK: a FIFO in a tree).
 * @retval fd  @retval -errno */
int ap_open_ro_at(int dir_fd, const char *path);

/* Read the whole file (never blocking on a FIFO; at most @max bytes; -EFBIG beyond) into a
 * NUL-terminated heap buffer.
 * @retval 0 (*ret_buf, *ret_len owned by the caller)  @retval -errno */
int ap_read_file_at(int dir_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* The whole content of an open file from offset 0 (pread: the file offset is not used, so the fd
 * can be kept and re-read), at most @max bytes (-EFBIG beyond), NUL-terminated, heap.
 * @retval 0  @retval -errno */
int ap_pread_alloc(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* pread from offset 0 of an open fd into @buf (size @size, NUL-terminated, truncation = -EFBIG).
 * A short read is taken as the end of the file (true of regular files and of small seq_files).
 * The cheap re-read of an already open cgroup file.  @retval bytes read  @retval -errno */
ssize_t ap_pread_all(int fd, char *buf, size_t size);

/* A configuration file: opened O_NONBLOCK | O_NOCTTY (a FIFO or a terminal never blocks), checked
 * with fstat() to be a regular file of at most @max bytes, read whole (NUL-terminated, heap).
 * *@ret_type (may be NULL) gets the file's S_IFMT type once it is open.
 * @retval 0  @retval -EBADFD not a regular file (see *ret_type)  @retval -EFBIG larger than @max
 * @retval -errno */
int ap_read_regular_file(const char *path, size_t max, char **ret_buf, size_t *ret_len, mode_t *ret_type);

/* "a FIFO", "a directory", ... for an S_IFMT type. */
const char *ap_file_type_name(mode_t type);
