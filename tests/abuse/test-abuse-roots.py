#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Symlink escapes out of a --root / root:DIR tree (the same primitive serves pid:N's
/proc/N/root and cgroup:PATH).  Usage: test-abuse-roots.py AUTOPROCSD AUTOPROCS SOURCE_ROOT

A copy of tests/fixtures/v2-quota-1.5 (limit 1.5 CPUs) is planted with links that lead out of it
to files saying 7.77777 CPUs (777777 100000): cpu.max absolute and ../.., proc/self and
proc/self/cgroup pointing at the host's, sys -> / and sys -> an outside tree.  Every case runs
twice: with openat2() and with the component-by-component fallback (AUTOPROCS_NO_OPENAT2=1); both
must give the same answer: the outside file is never read, the warning names the file, a link
that stays inside the tree is still followed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import Daemon, check, main, metric, wait_for  # noqa: E402

DAEMON, CLI, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
FIXTURE = os.path.join(SRC, "tests", "fixtures", "v2-quota-1.5")
LEAF = "sys/fs/cgroup/app.slice/app.service"
EVIL = "777777 100000\n"


def detect(root, fallback):
    env = dict(os.environ)
    env.pop("AUTOPROCS_NO_OPENAT2", None)
    if fallback:
        env["AUTOPROCS_NO_OPENAT2"] = "1"
    p = subprocess.run([CLI, "detect", "--json", "--root", root], capture_output=True, text=True,
                       env=env, timeout=30)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"error": p.stderr.strip(), "warnings": []}


def cpus(j):
    lim = j.get("limit")
    return lim.get("cpus") if isinstance(lim, dict) else None


def plant(tmp, name, setup):
    """A fresh fixture copy at tmp/name/root with an outside tree at tmp/name/outside."""
    base = os.path.join(tmp, name)
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    shutil.copytree(FIXTURE, root, symlinks=True)
    os.makedirs(os.path.join(outside, LEAF))
    for d in (outside, os.path.join(outside, LEAF)):
        with open(os.path.join(d, "cpu.max"), "w") as f:
            f.write(EVIL)
    os.makedirs(os.path.join(outside, "proc", "self"))
    with open(os.path.join(outside, "proc", "self", "cgroup"), "w") as f:
        f.write("0::/\n")
    setup(root, outside)
    return root


def relink(path, target):
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    os.symlink(target, path)


CASES = {
    # name: (setup, file named in the warning)
    "cpu.max -> /abs/outside/cpu.max": (
        lambda r, o: relink(os.path.join(r, LEAF, "cpu.max"), os.path.join(o, "cpu.max")),
        "app.service/cpu.max"),
    "cpu.max -> ../../../../../../outside/cpu.max": (
        lambda r, o: relink(os.path.join(r, LEAF, "cpu.max"), "../../../../../../outside/cpu.max"),
        "app.service/cpu.max"),
    "sys -> /": (lambda r, o: relink(os.path.join(r, "sys"), "/"), "sys/fs/cgroup"),
    "sys -> /abs/outside/sys": (
        lambda r, o: relink(os.path.join(r, "sys"), os.path.join(o, "sys")), "sys/fs/cgroup"),
    "sys -> ../outside/sys": (lambda r, o: relink(os.path.join(r, "sys"), "../outside/sys"),
                              "sys/fs/cgroup"),
    "proc/self -> /proc/self": (lambda r, o: relink(os.path.join(r, "proc", "self"), "/proc/self"),
                                "proc/self/"),
    "proc/self/cgroup -> /abs/outside": (
        lambda r, o: relink(os.path.join(r, "proc", "self", "cgroup"),
                            os.path.join(o, "proc", "self", "cgroup")), "proc/self/cgroup"),
}


def run():
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-abuse-") as tmp:
        for mode in ("openat2", "fallback"):
            fb = mode == "fallback"
            clean = detect(FIXTURE, fb)
            check(cpus(clean) == 1.5, f"[{mode}] the untouched fixture: 1.5 CPUs ({cpus(clean)})")
            for i, (name, (setup, named)) in enumerate(CASES.items()):
                root = plant(tmp, f"{mode}-{i}", setup)
                j = detect(root, fb)
                check(cpus(j) != 7.77777, f"[{mode}] {name}: the outside 7.77777 CPUs not reported "
                      f"({cpus(j)})")
                text = json.dumps(j)
                check("7.77777" not in text, f"[{mode}] {name}: nothing of the outside file")
                warned = [w for w in j.get("warnings", []) if named in w and "out of the root" in w]
                check(bool(warned) or "error" in j,
                      f"[{mode}] {name}: a warning names the file ({j.get('warnings')})")
            # A relative link that stays inside the tree is followed as before.
            def inside(r, o):
                os.makedirs(os.path.join(r, "inside"))
                with open(os.path.join(r, "inside", "cpu.max"), "w") as f:
                    f.write("250000 100000\n")
                relink(os.path.join(r, LEAF, "cpu.max"), "../../../../../inside/cpu.max")
            root = plant(tmp, f"{mode}-inside", inside)
            j = detect(root, fb)
            check(cpus(j) == 2.5, f"[{mode}] a link inside the tree is followed: 2.5 CPUs ({cpus(j)})")

        # The daemon, root:DIR: the outside file never becomes a metric.
        root = plant(tmp, "daemon", CASES["cpu.max -> /abs/outside/cpu.max"][0])
        for fb in (False, True):
            env = {"AUTOPROCS_NO_OPENAT2": "1"} if fb else {}
            d = Daemon(DAEMON, ["--target", "root:" + root, "--interval", "250ms"], env=env)
            try:
                check(wait_for(lambda: d.get("/readyz")[0] == 200), "daemon ready")
                _, text = d.get("/metrics")
                v = metric(text, "autoprocs_cpu_limit_cores", f'target="root:{root}"')
                check(v != 7.77777, f"daemon{' (fallback)' if fb else ''}: no 7.77777 CPUs limit ({v})")
                _, lim = d.get("/v1/limits")
                check("7.77777" not in lim and "out of the root" in lim,
                      "daemon: /v1/limits has the warning, not the value")
            finally:
                d.kill()


main(run)
