/* SPDX-License-Identifier: MIT */
/*
 * Reading small files relative to a directory fd.  Every path handed here is relative: no code
 * outside the entry points knows "/" (production opens "/" once, tests a fixture root).
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Open @path relative to @dir_fd read-only, O_CLOEXEC.  Leading '/' in @path are skipped, so an
 * absolute-looking path is still resolved below @dir_fd.  @retval fd  @retval -errno */
int ap_open_at(int dir_fd, const char *path, int flags);

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
