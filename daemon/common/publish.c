/* SPDX-License-Identifier: MIT */
/*
 * Environment files for other containers (see publish.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int ap_publish_write(const char *dir, const char *target, const char *content)
{
        char name[256], tmp[300];
        _cleanup_close_ int dfd = -1, fd = -1;
        size_t len = strlen(content);
        ssize_t n;
        int r;

        r = ap_publish_file_name(target, name, sizeof(name));
        if (r < 0)
                return r;
        (void)snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return AP_NEG_ERRNO();
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return AP_NEG_ERRNO();
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
        if (renameat(dfd, tmp, dfd, name) < 0)
                goto fail;
        return 0;
fail:
        r = AP_NEG_ERRNO();
        (void)unlinkat(dfd, tmp, 0);
        return r;
}
