/* SPDX-License-Identifier: MIT */
/*
 * Opening a path that stays below a directory fd, whatever symlinks the tree holds (a --root
 * fixture, another process's /proc/PID/root, a cgroup directory).  See open-beneath.c.
 */
#pragma once

#include <stdbool.h>

/* Symlinks followed in one resolution at most (the kernel's limit too). */
#define AP_BENEATH_MAX_LINKS 40

/*
 * Open @path (relative) below @dir_fd with open(2) @flags (no O_CREAT), O_CLOEXEC added.
 * Relative symlinks that stay below @dir_fd are followed; anything that would leave it (an
 * absolute symlink or path, ".." above @dir_fd) fails with -EXDEV; magic links are not followed.
 * @retval fd  @retval -EXDEV a link or ".." tried to leave  @retval -errno
 */
int ap_open_beneath(int dir_fd, const char *path, int flags);

/* True when the kernel's openat2() is used, false for the component-by-component fallback
 * (kernel without openat2, or AUTOPROCS_NO_OPENAT2=1 in the environment: tests use it). */
bool ap_open_beneath_uses_openat2(void);
