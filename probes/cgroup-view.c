/* SPDX-License-Identifier: MIT */
/*
 * The cgroup model of another process on the live system, read through the view that truly shows
 * it.  There are two: our own (our mount table, mount points in our namespace) and the process's
 * (its mount table, mount points under /proc/PID/root).  Ours is taken when the directory it finds
 * lists the pid in cgroup.procs: it reaches every ancestor we can see (the host looking at a
 * container under a --cgroup-parent, a node agent with the host's cgroupfs).  Otherwise the
 * process's own view, which needs ptrace read access to it.  When neither is open to us the answer
 * is -EACCES, never the cgroup files that happen to sit at the same paths here (in a container,
 * those are our own cgroup's: a sidecar once served its own limit as the app's).
 */
#include <errno.h>
#include <stdlib.h>

#include "probes/cgroup-resolve.h"
#include "probes/probe-root.h"
#include "probes/warnings.h"

/* A directory of the model that does not hold the process is not its cgroup: forget it. */
static void drop_unverified(const ApProbeRoot *root, ApCgroupLoc *loc, const char *what, ApWarnings *warn)
{
        if (loc->version == 0 || !loc->dir || ap_cgroup_procs_lists(root->mnt_fd, loc->dir, root->pid))
                return;
        ap_warn(warn, "/%s/cgroup.procs: does not list process %d: its %s cgroup is not visible here",
                loc->dir, root->pid, what);
        free(loc->dir);
        loc->dir = NULL;
}

int ap_cgroup_model_read_pid(const char *dir, int pid, ApProbeRoot *ret_root, ApCgroupModel *ret,
                             ApWarnings *warn)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApWarnings own_warn = AP_WARNINGS_NULL;
        int r;

        if (!dir || pid <= 0 || !ret_root || !ret)
                return -EINVAL;
        r = ap_probe_root_open_own(dir, pid, &root);
        if (r < 0)
                return r;
        r = ap_cgroup_model_read(&root, &m, &own_warn);
        if (r >= 0 && m.cpu.version != 0 && m.cpu.dir && ap_cgroup_procs_lists(root.mnt_fd, m.cpu.dir, pid)) {
                drop_unverified(&root, &m.cpuacct, "cpuacct", &own_warn);
                drop_unverified(&root, &m.cpuset, "cpuset", &own_warn);
                drop_unverified(&root, &m.unified, "cgroup2", &own_warn);
                for (size_t i = 0; i < own_warn.n; i++)
                        ap_warn(warn, "%s", own_warn.v[i]);
                ap_warnings_done(&own_warn);
                *ret_root = root;
                *ret = m;
                return 0;
        }
        /* Not ours to see (its warnings are about a view we do not use). */
        ap_warnings_done(&own_warn);
        ap_cgroup_model_done(&m);
        ap_probe_root_done(&root);
        if (r < 0)
                return r;
        r = ap_probe_root_open(dir, pid, true, &root);
        if (r < 0)
                return r;
        r = ap_cgroup_model_read(&root, &m, warn);
        if (r < 0) {
                ap_probe_root_done(&root);
                return r;
        }
        *ret_root = root;
        *ret = m;
        return 0;
}
