#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Conformance: the test data of uber-go/automaxprocs v1.6.0 (tests/conformance/automaxprocs-v1.6.0,
MIT, its LICENSE beside it) with the expectations its README states.  The data are fragments
(single cgroup files, /proc samples), so each case is placed into a small root tree in a temporary
directory and `autoprocs detect --json --root TREE` is run on it.

Usage: test-conformance.py AUTOPROCS CONFORMANCE_DIR
The data are part of the repository: a missing directory is a failure, never a skip.

Where our semantics intentionally differ from automaxprocs, the README states ours and so do the
checks below (commented at each case):
  - invalid-mountinfo: automaxprocs fails the whole call; we skip the bad line with a warning;
  - untranslatable: automaxprocs errors because cpuacct's root is not a prefix (#85); we answer
    from the cpu hierarchy alone;
  - v2/only-max: automaxprocs assumes period 100000 (5 CPUs); either that or "no limit" is fine.
"""
import aptest
import json
import os
import shutil
import subprocess
import sys
import tempfile

STATUS = "Name:\tapp\nPid:\t4242\nCpus_allowed_list:\t0-7\n"
MI_V1_CPU = ("31 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro\n"
             "34 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 "
             "- cgroup cgroup rw,cpu,cpuacct\n")
MI_V2 = ("30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
         "rw,nsdelegate\n")


class Tree:
    def __init__(self, tmp, name):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.write("proc/self/status", STATUS)
        self.write("sys/devices/system/cpu/online", "0-7\n")

    def write(self, rel, content):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)

    def copy(self, src, rel):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(src, path)


def detect(exe, root):
    p = subprocess.run([exe, "detect", "--json", "--root", root], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    if p.returncode != 0:
        return None, "exit status %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[:300])
    try:
        obj, end = json.JSONDecoder().raw_decode(p.stdout.decode().strip())
    except ValueError as e:
        return None, "stdout is not JSON: %s" % e
    return obj, None


def cpus_of(obj):
    lim = obj.get("limit")
    if lim is None:
        return None
    return lim.get("quota_us"), lim.get("period_us")


def main(argv):
    if len(argv) != 2:
        print("usage: test-conformance.py AUTOPROCS CONFORMANCE_DIR", file=sys.stderr)
        return 2
    exe, cdir = argv
    if not os.path.exists(exe):
        print("conformance: %s not built (no autoprocs CLI yet), skipping" % exe)
        return 77
    data = os.path.join(cdir, "automaxprocs-v1.6.0", "testdata")
    if not os.path.isdir(data):
        print("conformance: %s absent (it is part of the repository)" % data, file=sys.stderr)
        return 1
    cg = os.path.join(data, "cgroups")
    pr = os.path.join(data, "proc")
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-conformance-")
    results = []

    def case(name, build, check):
        t = Tree(tmp, name)
        build(t)
        obj, err = detect(exe, t.dir)
        errs = [err] if err else check(obj)
        results.append((name, errs))

    # -- v1 quota/period fragments: placed at /ctr below a cpu,cpuacct mount (parent unlimited)
    def v1_case(sub, expect_limit, want_warning):
        def build(t):
            t.write("proc/self/cgroup", "4:cpu,cpuacct:/ctr\n0::/\n")
            t.write("proc/self/mountinfo", MI_V1_CPU)
            t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
            t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
            src = os.path.join(cg, sub)
            for f in os.listdir(src):
                t.copy(os.path.join(src, f), "sys/fs/cgroup/cpu,cpuacct/ctr/" + f)

        def check(obj):
            errs = []
            if cpus_of(obj) != expect_limit:
                errs.append("limit %s, expected %s" % (json.dumps(obj.get("limit")),
                                                       expect_limit or "null"))
            if want_warning and not obj.get("warnings"):
                errs.append("expected a warning about the malformed file, got none")
            return errs
        case("cgroups/" + sub, build, check)

    v1_case("cpu", (600000, 100000), False)
    v1_case("undefined", None, False)
    v1_case("undefined-period", None, True)
    v1_case("zero-period", None, True)
    v1_case("empty", None, True)
    v1_case("invalid", None, True)

    # -- v2 cpu.max fragments: at /ctr below cgroup2 at /sys/fs/cgroup
    def v2_case(sub, expect, want_warning):
        def build(t):
            t.write("proc/self/cgroup", "0::/ctr\n")
            t.write("proc/self/mountinfo", MI_V2)
            t.copy(os.path.join(cg, "v2", sub), "sys/fs/cgroup/ctr/cpu.max")

        def check(obj):
            errs = []
            got = cpus_of(obj)
            if got not in expect:
                errs.append("limit %s, expected one of %s" % (json.dumps(obj.get("limit")),
                                                               expect))
            if want_warning and not obj.get("warnings"):
                errs.append("expected a warning about the malformed cpu.max, got none")
            if obj.get("cgroup_version") != 2:
                errs.append("cgroup_version %s, expected 2" % obj.get("cgroup_version"))
            return errs
        case("cgroups/v2/" + sub, build, check)

    v2_case("set", [(250000, 100000)], False)
    v2_case("unset", [None], False)
    # automaxprocs reads a lone quota with period 100000; the kernel never prints that.  Either
    # answer is allowed by the README; it must simply not crash.
    v2_case("only-max", [None, (500000, 100000)], False)
    for sub in ("empty", "too-few-fields", "too-many-fields", "invalid-max", "invalid-period",
                "zero-period"):
        v2_case(sub, [None], True)

    # -- /proc samples
    def proc_cgroups(t):
        t.copy(os.path.join(pr, "cgroups", "cgroup"), "proc/self/cgroup")
        t.copy(os.path.join(pr, "cgroups", "mountinfo"), "proc/self/mountinfo")
        t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
        t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        # what "mount point + full path" would read: must not be used
        t.write("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "700000\n")
        t.write("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n")

    def check_proc_cgroups(obj):
        errs = []
        if obj.get("cgroup_version") != 1 or obj.get("cgroup_path") != "/docker":
            errs.append("version/path %s %s, expected 1 /docker" % (obj.get("cgroup_version"),
                                                                     obj.get("cgroup_path")))
        if cpus_of(obj) != (150000, 100000):
            errs.append("limit %s, expected the mount point's 150000/100000" %
                        json.dumps(obj.get("limit")))
        elif obj["limit"].get("cgroup") != "/docker":
            errs.append("limit.cgroup %s, expected /docker" % obj["limit"].get("cgroup"))
        return errs
    case("proc/cgroups", proc_cgroups, check_proc_cgroups)

    def v2_subdir(t):
        t.copy(os.path.join(pr, "v2", "cgroup-subdir"), "proc/self/cgroup")
        t.copy(os.path.join(pr, "v2", "mountinfo-v2"), "proc/self/mountinfo")
        t.copy(os.path.join(cg, "v2", "set"), "sys/fs/cgroup/Example/cpu.max")

    def check_v2_subdir(obj):
        errs = []
        if obj.get("cgroup_version") != 2 or obj.get("cgroup_path") != "/Example":
            errs.append("version/path %s %s, expected 2 /Example" % (obj.get("cgroup_version"),
                                                                      obj.get("cgroup_path")))
        if cpus_of(obj) != (250000, 100000):
            errs.append("limit %s, expected 250000/100000 from /Example" %
                        json.dumps(obj.get("limit")))
        return errs
    case("proc/v2/mountinfo-v2+cgroup-subdir", v2_subdir, check_v2_subdir)

    def hybrid(t):
        t.write("proc/self/cgroup", "4:cpu,cpuacct:/hy\n0::/hy\n")
        t.copy(os.path.join(pr, "v2", "mountinfo-v1-v2"), "proc/self/mountinfo")
        t.write("sys/fs/cgroup/cpu,cpuacct/hy/cpu.cfs_quota_us", "150000\n")
        t.write("sys/fs/cgroup/cpu,cpuacct/hy/cpu.cfs_period_us", "100000\n")
        t.write("sys/fs/cgroup/unified/hy/cpu.max", "50000 100000\n")   # must not be used

    def check_hybrid(obj):
        errs = []
        if obj.get("cgroup_version") != 1:
            errs.append("cgroup_version %s, expected 1 (cpu is on v1)" % obj.get("cgroup_version"))
        if cpus_of(obj) != (150000, 100000):
            errs.append("limit %s, expected the v1 150000/100000" % json.dumps(obj.get("limit")))
        return errs
    case("proc/v2/mountinfo-v1-v2 (hybrid)", hybrid, check_hybrid)

    def invalid_cgroup(t):
        t.copy(os.path.join(pr, "invalid-cgroup", "cgroup"), "proc/self/cgroup")
        t.write("proc/self/mountinfo", MI_V1_CPU.replace("/sys/fs/cgroup/cpu,cpuacct",
                                                         "/sys/fs/cgroup/cpu"))
        t.write("sys/fs/cgroup/cpu/cpu/cpu.cfs_quota_us", "150000\n")
        t.write("sys/fs/cgroup/cpu/cpu/cpu.cfs_period_us", "100000\n")

    def check_invalid_cgroup(obj):
        errs = []
        if not obj.get("warnings"):
            errs.append("expected a warning about 'invalid-line:', got none")
        if cpus_of(obj) != (150000, 100000):
            errs.append("the good line 1:cpu:/cpu must still be used; limit %s" %
                        json.dumps(obj.get("limit")))
        return errs
    case("proc/invalid-cgroup", invalid_cgroup, check_invalid_cgroup)

    def v2_cgroup_invalid(t):
        t.copy(os.path.join(pr, "v2", "cgroup-invalid"), "proc/self/cgroup")
        t.copy(os.path.join(pr, "v2", "mountinfo-v2"), "proc/self/mountinfo")

    def check_v2_cgroup_invalid(obj):
        errs = []
        if not obj.get("warnings"):
            errs.append("expected a warning about the malformed line, got none")
        if obj.get("limit") is not None:
            errs.append("no usable cgroup line: limit must be null, got %s" %
                        json.dumps(obj.get("limit")))
        return errs
    case("proc/v2/cgroup-invalid", v2_cgroup_invalid, check_v2_cgroup_invalid)

    # automaxprocs fails the whole call on this line; we skip it with a warning and still find
    # the good cgroup2 mount after it.
    def invalid_mountinfo(t):
        with open(os.path.join(pr, "invalid-mountinfo", "mountinfo"), encoding="utf-8") as fh:
            bad = fh.read()
        t.write("proc/self/mountinfo", bad.rstrip("\n") + "\n" + MI_V2)
        t.write("proc/self/cgroup", "0::/app\n")
        t.write("sys/fs/cgroup/app/cpu.max", "150000 100000\n")

    def check_invalid_mountinfo(obj):
        errs = []
        if not obj.get("warnings"):
            errs.append("expected a warning about the line without super options, got none")
        if cpus_of(obj) != (150000, 100000):
            errs.append("the good cgroup2 line must still be used; limit %s" %
                        json.dumps(obj.get("limit")))
        return errs
    case("proc/invalid-mountinfo", invalid_mountinfo, check_invalid_mountinfo)

    # automaxprocs #85: the cpuacct root /docker/0123456789abcdef is not a prefix of /docker and
    # automaxprocs errors for the whole call; the cpu hierarchy alone decides here.
    def untranslatable(t):
        t.copy(os.path.join(pr, "untranslatable", "cgroup"), "proc/self/cgroup")
        t.copy(os.path.join(pr, "untranslatable", "mountinfo"), "proc/self/mountinfo")
        t.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
        t.write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
        t.write("sys/fs/cgroup/cpu/docker/cpu.cfs_quota_us", "150000\n")
        t.write("sys/fs/cgroup/cpu/docker/cpu.cfs_period_us", "100000\n")

    def check_untranslatable(obj):
        errs = []
        if obj.get("cgroup_version") != 1 or obj.get("cgroup_path") != "/docker":
            errs.append("version/path %s %s, expected 1 /docker" % (obj.get("cgroup_version"),
                                                                     obj.get("cgroup_path")))
        if cpus_of(obj) != (150000, 100000):
            errs.append("limit %s, expected 150000/100000 at mount point + /docker" %
                        json.dumps(obj.get("limit")))
        return errs
    case("proc/untranslatable (#85)", untranslatable, check_untranslatable)

    # every cgroup sample against every mountinfo sample: exit 0 and one JSON object, no crash
    cgroups = [os.path.join(pr, "v2", f) for f in ("cgroup-subdir", "cgroup-root",
                                                   "cgroup-no-match", "cgroup-invalid")]
    cgroups += [os.path.join(pr, d, "cgroup") for d in ("cgroups", "invalid-cgroup",
                                                         "untranslatable")]
    mounts = [os.path.join(pr, "v2", f) for f in ("mountinfo", "mountinfo-v2", "mountinfo-v1-v2")]
    mounts += [os.path.join(pr, d, "mountinfo") for d in ("cgroups", "invalid-mountinfo",
                                                           "untranslatable")]
    n = 0
    for c in cgroups:
        for m in mounts:
            n += 1

            def build(t, c=c, m=m):
                t.copy(c, "proc/self/cgroup")
                t.copy(m, "proc/self/mountinfo")
            case("robustness %s + %s" % (os.path.relpath(c, pr), os.path.relpath(m, pr)),
                 build, lambda obj: [] if isinstance(obj, dict) else ["not an object"])

    shutil.rmtree(tmp, ignore_errors=True)
    return aptest.report("conformance", results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
