#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Targets that are not there: /v1/limits gives them the same keys as a found target (null values,
"warnings": [], plus "error"), and a cgroup path with ".." is refused, never "unlimited, version 0".
Usage: test-abuse-lost.py AUTOPROCSD AUTOPROCS SOURCE_ROOT
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import Daemon, check, main, wait_for  # noqa: E402

DAEMON, CLI, SRC = sys.argv[1], sys.argv[2], sys.argv[3]


def run():
    gone = "pid:2147483646"
    d = Daemon(DAEMON, ["--target", "self", "--target", gone, "--target", "root:/nonexistent-root",
                        "--interval", "250ms"])
    try:
        check(wait_for(lambda: d.get("/readyz")[0] == 200), "ready")
        objs = {o["target"]: o for o in json.loads(d.get("/v1/limits")[1])}
        live = set(objs["self"]) - {"runtime_procs"}
        for t in (gone, "root:/nonexistent-root"):
            o = objs[t]
            check(set(o) == live | {"error"}, f"{t}: the keys of a found target plus error "
                  f"(missing {sorted(live - set(o))}, extra {sorted(set(o) - live - {'error'})})")
            nulls = [k for k in live - {"target", "warnings", "notes"} if o.get(k) is not None]
            check(not nulls, f"{t}: every value null ({nulls})")
            check(o.get("warnings") == [] and o.get("error"), f"{t}: warnings [] and an error")
    finally:
        d.kill()
    p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0", "--target", "cgroup:/sys/fs/cgroup/../cpu"],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "\"..\"" in p.stderr, f"cgroup:/a/../b refused at start ({p.stderr.strip()!r})")
    p = subprocess.run([CLI, "detect", "--json", "--cgroup", "/sys/fs/cgroup/../cpu"], capture_output=True,
                       text=True, timeout=10)
    out = p.stdout.strip()
    check(p.returncode != 0 and '"cgroup_version":0' not in out,
          f"detect --cgroup /a/../b: failed, not version 0 ({p.returncode} {out[:120]!r} {p.stderr.strip()!r})")


main(run)
