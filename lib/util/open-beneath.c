/* SPDX-License-Identifier: MIT */
/*
 * Opening a path so that it stays below a directory fd (open-beneath.h).
 *
 * Kernel path: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).  Fallback (no openat2: kernels
 * before 5.6, seccomp filters that answer ENOSYS or EPERM, or AUTOPROCS_NO_OPENAT2=1 set to
 * test it): one component at a time with O_PATH | O_NOFOLLOW from the parent's fd, symlinks read
 * with readlinkat() and resolved here.  Both give the same answers:
 *   - relative symlinks that stay below the directory are followed (at most AP_BENEATH_MAX_LINKS);
 *   - an absolute symlink, a ".." above the directory (in the path or in a link): -EXDEV;
 *   - procfs "magic" links (proc/PID/root, fd/N, exe, cwd): never followed as magic links (the
 *     kernel says -ELOOP; the fallback sees their text, absolute or "pipe:[N]": -EXDEV or
 *     -ENOENT).  A caller that must enter one (proc/PID/root) uses ap_open_magic_at().
 * RESOLVE_IN_ROOT would re-root an escaping link silently and read some other file of the tree;
 * RESOLVE_BENEATH refuses it, so the reader can say which file tried to leave.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define AP_HAVE_OPENAT2_H 1
#endif

#include "lib/util/cleanup.h"
#include "lib/util/macro.h"
#include "lib/util/open-beneath.h"

#define AP_BENEATH_MAX_DEPTH 64

/* 0 not known yet, 1 openat2 works, 2 fallback. */
static atomic_int beneath_mode;

static int mode(void)
{
        int m = atomic_load_explicit(&beneath_mode, memory_order_relaxed);
        const char *e;

        if (m != 0)
                return m;
        e = getenv("AUTOPROCS_NO_OPENAT2");
        m = e && *e && strcmp(e, "0") != 0 ? 2 : 1;
#ifndef AP_HAVE_OPENAT2_H
        m = 2;
#endif
        atomic_store_explicit(&beneath_mode, m, memory_order_relaxed);
        return m;
}

bool ap_open_beneath_uses_openat2(void)
{
        return mode() == 1;
}

/* Does @name in @dir_fd name a symlink?  Its target into @buf (NUL-terminated) if so. */
static bool read_link(int dir_fd, const char *name, char *buf, size_t size)
{
        ssize_t n = readlinkat(dir_fd, name, buf, size - 1);

        if (n < 0 || (size_t)n >= size - 1)
                return false;
        buf[n] = '\0';
        return true;
}

static int fallback(int dir_fd, const char *path, int flags)
{
        int stack[AP_BENEATH_MAX_DEPTH];
        size_t depth = 0;
        unsigned links = 0;
        _cleanup_free_ char *rest = strdup(path);
        char *p, comp[NAME_MAX + 1], target[PATH_MAX];
        int r, cur = dir_fd;

        if (!rest)
                return -ENOMEM;
        if (rest[0] == '/') {
                r = -EXDEV;
                goto out;
        }
        p = rest;
        for (;;) {
                size_t len;
                bool last;
                int fd;

                while (*p == '/')
                        p++;
                if (!*p) {
                        /* The path names a directory ("." or "a/"): open it with the caller's flags. */
                        fd = openat(cur, ".", flags | O_CLOEXEC);
                        r = fd < 0 ? AP_NEG_ERRNO() : fd;
                        goto out;
                }
                len = strcspn(p, "/");
                if (len > NAME_MAX) {
                        r = -ENAMETOOLONG;
                        goto out;
                }
                memcpy(comp, p, len);
                comp[len] = '\0';
                p += len;
                last = p[strspn(p, "/")] == '\0';
                if (strcmp(comp, ".") == 0)
                        continue;
                if (strcmp(comp, "..") == 0) {
                        if (depth == 0) {
                                r = -EXDEV;
                                goto out;
                        }
                        (void)close(stack[--depth]);
                        cur = depth > 0 ? stack[depth - 1] : dir_fd;
                        continue;
                }
                if (last && *p == '\0')
                        fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
                else
                        fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        char *joined;
                        size_t tl;

                        r = AP_NEG_ERRNO();
                        if ((r != -ELOOP && r != -ENOTDIR) || !read_link(cur, comp, target, sizeof(target)))
                                goto out;
                        if (++links > AP_BENEATH_MAX_LINKS) {
                                r = -ELOOP;
                                goto out;
                        }
                        if (target[0] == '/') {
                                r = -EXDEV;
                                goto out;
                        }
                        /* Go on with the link's text in front of what is left. */
                        tl = strlen(target);
                        joined = malloc(tl + 1 + strlen(p) + 1);
                        if (!joined) {
                                r = -ENOMEM;
                                goto out;
                        }
                        memcpy(joined, target, tl);
                        joined[tl] = '/';
                        strcpy(joined + tl + 1, p);
                        if (*p == '\0')
                                joined[tl] = '\0';
                        free(rest);
                        rest = joined;
                        p = rest;
                        continue;
                }
                if (last && *p == '\0') {
                        r = fd;
                        goto out;
                }
                if (depth == AP_BENEATH_MAX_DEPTH) {
                        (void)close(fd);
                        r = -ENAMETOOLONG;
                        goto out;
                }
                stack[depth++] = fd;
                cur = fd;
        }
out:
        while (depth > 0)
                (void)close(stack[--depth]);
        return r;
}

int ap_open_beneath(int dir_fd, const char *path, int flags)
{
        if (dir_fd < 0 || !path)
                return -EBADF;
        if (!*path)
                path = ".";
#ifdef AP_HAVE_OPENAT2_H
        if (mode() == 1) {
                struct open_how how = {
                        .flags = (unsigned long long)(flags | O_CLOEXEC),
                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
                };
                long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

                if (fd >= 0)
                        return (int)fd;
                if (errno != ENOSYS && errno != EPERM)
                        return AP_NEG_ERRNO();
                /* No openat2 here (or a filter forbids it): the fallback from now on. */
                atomic_store_explicit(&beneath_mode, 2, memory_order_relaxed);
        }
#endif
        return fallback(dir_fd, path, flags);
}
