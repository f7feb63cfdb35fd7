/* SPDX-License-Identifier: MIT */
/*
 * ApProbeRoot: the directory fds every probe reads below.  The caller names the directory ("/" or a
 * fixture); nothing here knows an absolute path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/macro.h"
#include "probes/probe-root.h"

int ap_probe_root_open(const char *dir, int pid, bool live, ApProbeRoot *ret)
{
        _cleanup_close_ int root_fd = -1, mnt_fd = -1;
        bool fallback = false;

        if (!dir || !ret || pid < 0)
                return -EINVAL;
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return AP_NEG_ERRNO();
        if (live && pid > 0) {
                /* Another process on the live system: its mount points are resolved in its own
                 * mount namespace, which proc/PID/root shows us (a sidecar reading its app). */
                char path[64];

                snprintf(path, sizeof(path), "proc/%d/root", pid);
                mnt_fd = ap_open_at(root_fd, path, O_RDONLY | O_DIRECTORY);
                if (mnt_fd == -ENOENT)
                        return -ESRCH;
                if (mnt_fd < 0) {
                        /* Not ours to enter (EACCES): its cgroup files are still readable at the
                         * same paths in our namespace in the common case. */
                        fallback = true;
                        mnt_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                        if (mnt_fd < 0)
                                return AP_NEG_ERRNO();
                }
        } else {
                mnt_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                if (mnt_fd < 0)
                        return AP_NEG_ERRNO();
        }
        *ret = (ApProbeRoot){
                .root_fd = AP_TAKE_FD(root_fd),
                .mnt_fd = AP_TAKE_FD(mnt_fd),
                .pid = pid,
                .live = live,
                .mnt_fallback = fallback,
        };
        return 0;
}

void ap_probe_root_done(ApProbeRoot *root)
{
        if (!root)
                return;
        (void)ap_close(root->root_fd);
        (void)ap_close(root->mnt_fd);
        *root = AP_PROBE_ROOT_NULL;
}

char *ap_probe_proc_dir(const ApProbeRoot *root, char *buf, size_t size)
{
        if (root->pid > 0)
                snprintf(buf, size, "proc/%d", root->pid);
        else
                snprintf(buf, size, "proc/self");
        return buf;
}
