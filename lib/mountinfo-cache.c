/* SPDX-License-Identifier: MIT */
/*
 * The live mountinfo cache (mountinfo-cache.h): one fd, one parsed table, one mutex.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mountinfo-cache.h"
#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int cache_fd = -1;
static pid_t cache_pid;
static dev_t cache_ns_dev;     /* the mount namespace the fd was opened in (0/0: unknown) */
static ino_t cache_ns_ino;
static bool cache_valid;
static ApMountTable cache_table;

static void cache_reset(void)
{
        cache_fd = ap_close(cache_fd);
        ap_mount_table_done(&cache_table);
        cache_valid = false;
}

/* Read and parse through the kept fd.  @retval 0, AP_PROBE_NOT_APPLICABLE, -ENOMEM */
static int cache_fill(void)
{
        _cleanup_free_ char *buf = NULL;
        ApWarnings w = AP_WARNINGS_NULL;
        ApMountTable mt = { 0 };
        size_t len;
        int r;

        r = ap_pread_alloc(cache_fd, AP_PROBE_MAX_FILE, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return AP_PROBE_NOT_APPLICABLE;
        r = ap_mountinfo_parse(buf, len, "/proc/self/mountinfo", &mt, &w);
        if (r < 0)
                return r;
        if (w.n > 0 || w.dropped > 0) {
                ap_warnings_done(&w);
                ap_mount_table_done(&mt);
                return AP_PROBE_NOT_APPLICABLE;
        }
        ap_mount_table_done(&cache_table);
        cache_table = mt;
        cache_valid = true;
        return 0;
}

/* The identity of this process's mount namespace; 0/0 when it cannot be seen. */
static void mount_ns(int root_fd, dev_t *ret_dev, ino_t *ret_ino)
{
        struct stat st;

        if (fstatat(root_fd, "proc/self/ns/mnt", &st, 0) < 0)
                memset(&st, 0, sizeof(st));
        *ret_dev = st.st_dev;
        *ret_ino = st.st_ino;
}

int ap_mountinfo_cache_copy(int root_fd, ApMountTable *ret)
{
        pid_t pid = getpid();
        dev_t ns_dev;
        ino_t ns_ino;
        int r;

        /* The kept fd reads, and notifies about, the namespace it was opened in: after
         * unshare(CLONE_NEWNS) or setns() it would go on describing the old one. */
        mount_ns(root_fd, &ns_dev, &ns_ino);
        pthread_mutex_lock(&cache_lock);
        if (cache_fd >= 0 && (cache_pid != pid || cache_ns_dev != ns_dev || cache_ns_ino != ns_ino))
                cache_reset();
        if (cache_fd < 0) {
                cache_fd = ap_open_ro_at(root_fd, "proc/self/mountinfo");
                if (cache_fd < 0) {
                        cache_fd = -1;
                        r = AP_PROBE_NOT_APPLICABLE;
                        goto out;
                }
                cache_pid = pid;
                cache_ns_dev = ns_dev;
                cache_ns_ino = ns_ino;
                cache_valid = false;
        } else {
                struct pollfd p = { .fd = cache_fd, .events = POLLPRI };

                /* Any event (POLLPRI|POLLERR: the mount table changed) or error: read again. */
                if (poll(&p, 1, 0) != 0)
                        cache_valid = false;
        }
        if (!cache_valid) {
                r = cache_fill();
                if (r != 0) {
                        if (r > 0)
                                cache_reset();
                        goto out;
                }
        }
        r = ap_mount_table_copy(&cache_table, ret);
out:
        pthread_mutex_unlock(&cache_lock);
        return r;
}
