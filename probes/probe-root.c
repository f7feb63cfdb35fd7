/* SPDX-License-Identifier: MIT */
/*
 * ApProbeRoot: the directory fds every probe reads below.  The caller names the directory ("/" or a
 * fixture); nothing here knows an absolute path.  Also the one check that a cgroup directory holds
 * a process (its cgroup.procs lists the pid): what makes a cgroup found by path or by search the
 * process's, and not merely one at the same path in our namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"
#include "probes/probe-root.h"

/* The largest cgroup.procs read (a v1 root cgroup of a big host lists every process). */
#define AP_CGROUP_PROCS_MAX (64u * 1024u * 1024u)

/* @dir and a second fd of it; with @pid > 0, -ESRCH unless @dir holds proc/PID. */
static int root_fds(const char *dir, int pid, int *ret_root_fd, int *ret_mnt_fd)
{
        _cleanup_close_ int root_fd = -1, mnt_fd = -1;

        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return AP_NEG_ERRNO();
        if (pid > 0) {
                char path[64];
                struct stat st;

                snprintf(path, sizeof(path), "proc/%d", pid);
                if (fstatat(root_fd, path, &st, 0) < 0)
                        return errno == ENOENT ? -ESRCH : AP_NEG_ERRNO();
        }
        mnt_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (mnt_fd < 0)
                return AP_NEG_ERRNO();
        *ret_root_fd = AP_TAKE_FD(root_fd);
        *ret_mnt_fd = AP_TAKE_FD(mnt_fd);
        return 0;
}

int ap_probe_root_open(const char *dir, int pid, bool live, ApProbeRoot *ret)
{
        _cleanup_close_ int root_fd = -1, mnt_fd = -1;
        int r;

        if (!dir || !ret || pid < 0)
                return -EINVAL;
        r = root_fds(dir, live ? pid : 0, &root_fd, &mnt_fd);
        if (r < 0)
                return r;
        if (live && pid > 0) {
                /* Another process on the live system: its mount points are resolved in its own
                 * mount namespace, which proc/PID/root shows us (a sidecar reading its app).  When
                 * that is closed to us (ptrace read access: another uid or gid, or capabilities we
                 * lack), nothing stands in for it: the files at the same paths in our namespace
                 * are our own cgroup's in a container (ap_probe_root_open_own is the other view,
                 * valid only where verified). */
                char path[64];
                int fd;

                snprintf(path, sizeof(path), "proc/%d/root", pid);
                fd = ap_open_magic_at(root_fd, path, O_RDONLY | O_DIRECTORY);
                if (fd == -ENOENT)
                        return -ESRCH;
                if (fd == -EPERM)
                        fd = -EACCES;
                if (fd < 0)
                        return fd;
                (void)ap_close(mnt_fd);
                mnt_fd = fd;
        }
        *ret = (ApProbeRoot){
                .root_fd = AP_TAKE_FD(root_fd),
                .mnt_fd = AP_TAKE_FD(mnt_fd),
                .pid = pid,
                .live = live,
        };
        return 0;
}

int ap_probe_root_open_own(const char *dir, int pid, ApProbeRoot *ret)
{
        _cleanup_close_ int root_fd = -1, mnt_fd = -1;
        int r;

        if (!dir || !ret || pid <= 0)
                return -EINVAL;
        r = root_fds(dir, pid, &root_fd, &mnt_fd);
        if (r < 0)
                return r;
        *ret = (ApProbeRoot){
                .root_fd = AP_TAKE_FD(root_fd),
                .mnt_fd = AP_TAKE_FD(mnt_fd),
                .pid = pid,
                .live = true,
                .own_mounts = true,
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

bool ap_cgroup_procs_lists(int fd, const char *dir, int pid)
{
        _cleanup_free_ char *path = ap_path_join_rel(dir, "cgroup.procs");
        _cleanup_free_ char *buf = NULL;
        char pidstr[16];
        size_t len, pl;

        if (pid <= 0 || !path || ap_read_file_at(fd, path, AP_CGROUP_PROCS_MAX, &buf, &len) < 0)
                return false;
        pl = (size_t)snprintf(pidstr, sizeof(pidstr), "%d", pid);
        ApLines it = AP_LINES_INIT(buf, len);
        const char *p;
        size_t l;

        while (ap_lines_next(&it, &p, &l))
                if (l == pl && memcmp(p, pidstr, pl) == 0)
                        return true;
        return false;
}
