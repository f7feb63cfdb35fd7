#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real v1 cgroups on this machine: `autoprocs detect --json` run inside autoprocs-test-detect-*
cgroups made with libcgroup's API (tests/cgroup-helper.c), checked against what the kernel enforces.

Usage: test-cgroup-real.py CGROUP_HELPER AUTOPROCS
Exit 77 (meson: skipped) with one line saying why when not root, when the v1 cpu hierarchy is not
writable, or when the CLI is not built.  The cgroups are removed at the end, also on failure, and
leftovers of an earlier run are removed first.

Scenarios (A = this process's affinity count, inherited by the child):
  half-parent      0.5-CPU parent, unlimited child, detect in the child: cpus 0.5, limit.cgroup
                   names the parent; go125 = min(A, 2)
  cpuset0-2.5      quota 2.5 with cpuset.cpus=0: affinity 1, go125 1, automaxprocs 2
  plain-1.5        a plain 1.5 limit
  moved            started in a 1.5 cgroup, moved to a 0.5 cgroup before exec: 0.5 and the new path
  cgroupns         unshare(CLONE_NEWCGROUP) in the child of the 0.5 parent: the cpu mount root shows
                   as /../.., our cgroup must be found below the mount point: still 0.5
  cgroupns-moved   unshare in a 1.5 cgroup, then moved to a 0.5 sibling: path /../x, still 0.5
  bind-mount       a private mount namespace with the 0.5 parent bind-mounted over the cpu
                   hierarchy (K8s on v1: mount root = a cgroup): still 0.5, named by its path
  --pid            a sidecar's view: detect --pid of a process in cpuset 0 + 2.5, and of a process
                   in its own mount namespace where only its cgroup is mounted (root == path)
"""
import aptest
import json
import os
import shutil
import signal
import subprocess
import sys
import time

PREFIX = "autoprocs-test-detect-"


def sh(args, check=True):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                 p.stderr.decode(errors="replace").strip()))
    return p


def main(argv):
    if len(argv) != 2:
        print("usage: test-cgroup-real.py CGROUP_HELPER AUTOPROCS", file=sys.stderr)
        return 2
    helper, exe = argv
    if not os.path.exists(exe):
        print("cgroup-real: %s not built (no autoprocs CLI yet), skipping" % exe)
        return 77
    p = sh([helper, "check"], check=False)
    sys.stdout.write(p.stdout.decode())
    if p.returncode != 0:
        sys.stdout.write(p.stderr.decode())
        return 77 if p.returncode == 77 else 1
    mp = None       # the cpu hierarchy's mount point, as libcgroup found it
    for line in p.stdout.decode().splitlines():
        if line.startswith("cpu hierarchy: "):
            mp = line[len("cpu hierarchy: "):]

    # meson sends SIGTERM on timeout: turn it into an exception so that the cleanup runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    A = len(os.sched_getaffinity(0))
    results = []

    def create(name, *opts):
        sh([helper, "create", PREFIX + name] + list(opts))

    def detect_in(name, *opts, policy=None, wrap=()):
        args = [helper, "run", PREFIX + name] + list(opts) + ["--"] + list(wrap) + \
            [exe, "detect", "--json"]
        if policy:
            args += ["--policy", policy]
        p = sh(args, check=False)
        if p.returncode != 0:
            return None, "detect exited %d: %s" % (p.returncode,
                                                  p.stderr.decode(errors="replace").strip())
        try:
            return json.loads(p.stdout.decode()), None
        except ValueError as e:
            return None, "not JSON (%s): %r" % (e, p.stdout[:200])

    def compare(obj, want, errs):
        for k, v in want.items():
            got = obj
            for part in k.split("."):
                got = got.get(part) if isinstance(got, dict) else None
            if isinstance(v, float):
                ok = isinstance(got, (int, float)) and abs(got - v) < 1e-9
            else:
                ok = got == v
            if not ok:
                errs.append("%s: expected %s, got %s" % (k, json.dumps(v), json.dumps(got)))

    def check_pid(scenario, name, cmd, want):
        """Start @cmd in cgroup @name, then describe it from here with --pid."""
        errs = []
        proc = subprocess.Popen([helper, "run", PREFIX + name, "--"] + cmd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pid = None
        try:
            procs = os.path.join(mp, PREFIX + name, "cgroup.procs")
            for _ in range(200):
                with open(procs, encoding="ascii") as fh:
                    pids = [int(x) for x in fh.read().split()]
                if pids:
                    try:
                        with open("/proc/%d/comm" % pids[0], encoding="ascii") as fh:
                            if fh.read().strip() == "sleep":
                                pid = pids[0]
                                break
                    except OSError:
                        pass
                time.sleep(0.02)
            if pid is None:
                errs.append("the process in %s did not start" % name)
            else:
                p = sh([exe, "detect", "--json", "--pid", str(pid)], check=False)
                if p.returncode != 0:
                    errs.append("detect --pid exited %d: %s" %
                                (p.returncode, p.stderr.decode(errors="replace").strip()))
                else:
                    obj = json.loads(p.stdout.decode())
                    compare(obj, want, errs)
                    if errs:
                        errs.append("full answer: %s" % json.dumps(obj))
        finally:
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        results.append((scenario, errs))

    def check(scenario, name, opts, want, policies=None, wrap=()):
        errs = []
        obj, err = detect_in(name, *opts, wrap=wrap)
        if err:
            results.append((scenario, [err]))
            return
        compare(obj, want, errs)
        for pol, procs in (policies or {}).items():
            o, err = detect_in(name, *opts, policy=pol, wrap=wrap)
            if err:
                errs.append("--policy %s: %s" % (pol, err))
            elif o.get("procs") != procs:
                errs.append("--policy %s: procs %s, expected %d" % (pol, o.get("procs"), procs))
        if errs:
            errs.append("full answer: %s" % json.dumps(obj))
        results.append((scenario, errs))

    try:
        sh([helper, "cleanup", PREFIX], check=False)

        create("half", "--quota", "50000", "--period", "100000")
        create("half/child")
        check("half-parent (0.5 parent, unlimited child)", "half/child", [], {
            "cgroup_version": 1, "cgroup_path": "/%shalf/child" % PREFIX,
            "limit.quota_us": 50000, "limit.period_us": 100000, "limit.cpus": 0.5,
            "limit.cgroup": "/%shalf" % PREFIX, "affinity_cpus": A, "procs": min(A, 2),
            "policy": "go125",
        }, {"ceil": 1, "floor": 1, "automaxprocs": 1})

        create("cpuset", "--quota", "250000", "--period", "100000", "--cpuset", "0")
        check("cpuset0-2.5 (quota 2.5, cpuset.cpus=0)", "cpuset", [], {
            "cgroup_version": 1, "cgroup_path": "/%scpuset" % PREFIX,
            "limit.quota_us": 250000, "limit.cpus": 2.5, "limit.cgroup": "/%scpuset" % PREFIX,
            "affinity_cpus": 1, "procs": 1,
        }, {"ceil": 1, "floor": 1, "automaxprocs": 2})

        create("plain", "--quota", "150000", "--period", "100000")
        check("plain-1.5", "plain", [], {
            "cgroup_version": 1, "cgroup_path": "/%splain" % PREFIX, "limit.quota_us": 150000,
            "limit.period_us": 100000, "limit.cpus": 1.5, "limit.cgroup": "/%splain" % PREFIX,
            "affinity_cpus": A, "procs": min(A, 2),
        }, {"ceil": min(A, 2), "floor": 1, "automaxprocs": 1})

        create("b", "--quota", "50000", "--period", "100000")
        check("moved (1.5 -> 0.5 before exec)", "plain", ["--move-to", PREFIX + "b"], {
            "cgroup_path": "/%sb" % PREFIX, "limit.quota_us": 50000, "limit.cpus": 0.5,
            "limit.cgroup": "/%sb" % PREFIX,
        })

        check("cgroupns (unshare -C under the 0.5 parent; mount root /../..)", "half/child",
              ["--unshare"], {"cgroup_version": 1, "cgroup_path": "/", "limit.quota_us": 50000,
                              "limit.period_us": 100000, "limit.cpus": 0.5})

        check("cgroupns-moved (unshare -C in 1.5, moved to a 0.5 sibling: /../x)", "plain",
              ["--unshare", "--move-to", PREFIX + "b"], {
                  "cgroup_version": 1, "cgroup_path": "/../%sb" % PREFIX,
                  "limit.quota_us": 50000, "limit.cpus": 0.5})
        # A K8s-on-v1 layout made for real: a private mount namespace where the parent's
        # directory is bind-mounted over the cpu hierarchy (mount root = the parent).
        if mp and shutil.which("unshare") and shutil.which("mount"):
            check("bind-mount (v1 subtree mount, root = the 0.5 parent)", "half/child", [], {
                "cgroup_version": 1, "cgroup_path": "/%shalf/child" % PREFIX,
                "limit.quota_us": 50000, "limit.cpus": 0.5, "limit.cgroup": "/%shalf" % PREFIX,
            }, wrap=["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     'mount --bind "$0/%shalf" "$0" && exec "$@"' % PREFIX, mp])
        else:
            print("skip bind-mount and --pid across mount namespaces: no unshare/mount")

        # --pid: a sidecar describing another process (its /proc/PID/{cgroup,mountinfo},
        # mount points under /proc/PID/root, its affinity)
        check_pid("--pid of a process in cpuset 0 + 2.5", "cpuset", ["sleep", "30"], {
            "cgroup_path": "/%scpuset" % PREFIX, "limit.quota_us": 250000, "limit.cpus": 2.5,
            "affinity_cpus": 1, "procs": 1})
        if mp and shutil.which("unshare") and shutil.which("mount"):
            check_pid("--pid of a process whose mount namespace shows only its own cgroup "
                      "(root == path, docker cgroupns=host)", "plain",
                      ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount --bind "$0/%splain" "$0" && exec sleep 30' % PREFIX, mp], {
                          "cgroup_path": "/%splain" % PREFIX, "limit.quota_us": 150000,
                          "limit.cpus": 1.5, "limit.cgroup": "/%splain" % PREFIX})
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        results.append(("setup", [str(e)]))
    finally:
        p = sh([helper, "cleanup", PREFIX], check=False)
        if p.returncode != 0:
            results.append(("cleanup", [p.stderr.decode(errors="replace").strip()]))
        for h in ("cpu", "cpuset", "cpuacct"):
            d = "/sys/fs/cgroup/" + h
            if os.path.isdir(d):
                left = [x for x in os.listdir(d) if x.startswith(PREFIX)]
                if left:
                    results.append(("cleanup", ["left behind in %s: %s" % (d, left)]))

    return aptest.report("cgroup-real", results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
