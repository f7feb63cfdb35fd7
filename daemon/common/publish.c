/* SPDX-License-Identifier: MIT */
/*
 * Environment files for other containers (see publish.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/common/procs-env.h"
#include "daemon/common/publish.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"

int ap_publish_file_name(const char *target, char *buf, size_t size)
{
        size_t n = strlen(target);

        if (n + sizeof(".env") > size || n + sizeof(".env") > 256)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < n; i++) {
                char c = target[i];

                buf[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '.' || c == '_' || c == '-') ? c : '_';
        }
        /* A name of dots only would be "." or "..": not a file name. */
        if (buf[0] == '.')
                buf[0] = '_';
        memcpy(buf + n, ".env", sizeof(".env"));
        return 0;
}

char *ap_publish_content(const char *target, unsigned procs, bool has_limit, double limit_cores)
{
        char *s = NULL, line[128];
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        /* The target label is a comment: keep it on one line whatever it holds. */
        fputs("# written by autoprocsd for target ", f);
        for (const char *p = target; *p; p++)
                fputc(*p == '\n' ? ' ' : *p, f);
        fputc('\n', f);
        for (size_t i = 0; i < AP_PROCS_ENV_N; i++) {
                (void)snprintf(line, sizeof(line), "%s=%u\n", ap_procs_env_vars[i], procs);
                fputs(line, f);
        }
        if (has_limit)
                fprintf(f, "AUTOPROCS_LIMIT_CPUS=%.3f\n", limit_cores);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

struct ApPublishDir {
        atomic_uint refs;
        int fd;
        char *path;
};

int ap_publish_dir_open(const char *path, ApPublishDir **ret)
{
        ApPublishDir *d;
        int fd;

        if (!path || !ret)
                return -EINVAL;
        /* O_NOFOLLOW: the directory named is the one used, not where a symlink points (a volume
         * another container can write to could swap it). */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                struct stat st;
                int r = AP_NEG_ERRNO();

                /* O_DIRECTORY says ENOTDIR for a symlink too: tell them apart for the message. */
                if (r == -ENOTDIR && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                        r = -ELOOP;
                return r;
        }
        d = calloc(1, sizeof(*d));
        if (!d || !(d->path = strdup(path))) {
                free(d);
                (void)close(fd);
                return -ENOMEM;
        }
        d->fd = fd;
        atomic_init(&d->refs, 1);
        *ret = d;
        return 0;
}

ApPublishDir *ap_publish_dir_ref(ApPublishDir *d)
{
        if (d)
                atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
        return d;
}

ApPublishDir *ap_publish_dir_unref(ApPublishDir *d)
{
        if (d && atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) {
                (void)close(d->fd);
                free(d->path);
                free(d);
        }
        return NULL;
}

const char *ap_publish_dir_path(const ApPublishDir *d)
{
        return d->path;
}

/* A fresh temporary file in the directory: ".<name>.<16 random hex>.tmp", created with O_EXCL
 * (whatever sits at that name, a file, a hard link, a symlink, makes it fail and another name is
 * drawn), never followed.  Its name into @tmp. */
static int create_temp(int dfd, const char *name, char *tmp, size_t size)
{
        for (int attempt = 0; attempt < 16; attempt++) {
                uint64_t rnd;
                int fd;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
                        struct timespec ts;

                        /* No entropy yet (early boot): time and a counter; O_EXCL keeps it safe. */
                        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                        rnd = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                              ((uint64_t)getpid() << 40) ^ (uint64_t)attempt;
                }
                (void)snprintf(tmp, size, ".%s.%016llx.tmp", name, (unsigned long long)rnd);
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return AP_NEG_ERRNO();
        }
        return -EEXIST;
}

int ap_publish_write(const ApPublishDir *dir, const char *target, const char *content)
{
        char name[256], tmp[300];
        _cleanup_close_ int fd = -1;
        size_t len = strlen(content);
        ssize_t n;
        int r;

        r = ap_publish_file_name(target, name, sizeof(name));
        if (r < 0)
                return r;
        fd = create_temp(dir->fd, name, tmp, sizeof(tmp));
        if (fd < 0)
                return fd;
        /* Our own new file: 0644 whatever the umask. */
        if (fchmod(fd, 0644) < 0)
                goto fail;
        n = write(fd, content, len);
        if (n < 0 || (size_t)n != len) {
                if (n >= 0)
                        errno = EIO;
                goto fail;
        }
        if (close(AP_TAKE_FD(fd)) < 0)
                goto fail;
        /* rename() replaces the entry <name> itself: a symlink or hard link planted there is
         * dropped, its target never written. */
        if (renameat(dir->fd, tmp, dir->fd, name) < 0)
                goto fail;
        return 0;
fail:
        r = AP_NEG_ERRNO();
        (void)unlinkat(dir->fd, tmp, 0);
        return r;
}
