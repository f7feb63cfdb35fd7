/* SPDX-License-Identifier: MIT */
/*
 * Small-file reading below a root directory fd.  cgroupfs and procfs files report size 0 and may be
 * read in several chunks, so read until EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/macro.h"
#include "lib/util/open-beneath.h"

int ap_open_at(int dir_fd, const char *path, int flags)
{
        if (dir_fd < 0 || !path)
                return -EBADF;
        while (*path == '/')
                path++;
        return ap_open_beneath(dir_fd, *path ? path : ".", flags);
}

int ap_open_magic_at(int dir_fd, const char *path, int flags)
{
        int fd;

        if (dir_fd < 0 || !path)
                return -EBADF;
        while (*path == '/')
                path++;
        fd = openat(dir_fd, *path ? path : ".", flags | O_CLOEXEC);
        return fd < 0 ? AP_NEG_ERRNO() : fd;
}

const char *ap_open_strerror(int r)
{
        if (r == -EXDEV)
                return "a symbolic link or \"..\" leads out of the root: not followed";
        return strerror(-r);
}

int ap_open_ro_at(int dir_fd, const char *path)
{
        /* O_NONBLOCK: a FIFO planted in a tree must not block open(); a later pread() on it fails
         * with ESPIPE, on a device it is bounded by the caller's size limit.  No fstat(): one
         * system call less per file on the detection path. */
        return ap_open_at(dir_fd, path, O_RDONLY | O_NONBLOCK);
}

int ap_pread_alloc(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 4096, len = 0;

        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == size) {
                        char *p;

                        if (size >= max)
                                return -EFBIG;
                        size = AP_MIN(size * 2, max);
                        p = realloc(buf, size + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                n = pread(fd, buf + len, size - len, (off_t)len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return AP_NEG_ERRNO();
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        *ret_buf = AP_TAKE_PTR(buf);
        return 0;
}

int ap_read_file_at(int dir_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;

        fd = ap_open_ro_at(dir_fd, path);
        if (fd < 0)
                return fd;
        return ap_pread_alloc(fd, max, ret_buf, ret_len);
}

ssize_t ap_pread_all(int fd, char *buf, size_t size)
{
        size_t len = 0;

        if (size == 0)
                return -EINVAL;
        for (;;) {
                ssize_t n = pread(fd, buf + len, size - 1 - len, (off_t)len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return AP_NEG_ERRNO();
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                /* A read shorter than asked is the end of the file: regular files and the
                 * procfs/cgroupfs seq_files we re-read (well under a page) return all they have
                 * at once.  Not asking again halves the system calls of a watcher tick. */
                if ((size_t)n < size - 1 - (len - (size_t)n))
                        break;
                if (len == size - 1) {
                        char c;

                        /* Full buffer: only fine if the file ends exactly here. */
                        n = pread(fd, &c, 1, (off_t)len);
                        if (n > 0)
                                return -EFBIG;
                        break;
                }
        }
        buf[len] = 0;
        return (ssize_t)len;
}

int ap_read_regular_file(const char *path, size_t max, char **ret_buf, size_t *ret_len, mode_t *ret_type)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!path || !ret_buf)
                return -EINVAL;
        /* O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a terminal must not
         * become ours.  The type is checked on the open fd, so nothing can swap the file between
         * the check and the read. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return AP_NEG_ERRNO();
        if (fstat(fd, &st) < 0)
                return AP_NEG_ERRNO();
        if (ret_type)
                *ret_type = st.st_mode & S_IFMT;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        return ap_pread_alloc(fd, max, ret_buf, ret_len);
}

const char *ap_file_type_name(mode_t type)
{
        switch (type & S_IFMT) {
        case S_IFREG:
                return "a regular file";
        case S_IFDIR:
                return "a directory";
        case S_IFIFO:
                return "a FIFO";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        case S_IFSOCK:
                return "a socket";
        case S_IFLNK:
                return "a symbolic link";
        }
        return "not a regular file";
}
