#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fractional pacing in real cgroups: `throttle-load` run by `autoprocs run --cpus Q --json` in a
fresh limited cgroup, robust facts only, compared within the same run (interleaved):

  paced-throttles-less   at 0.5 CPU, --paced is throttled in fewer periods than --procs 2 (ceil)
  auto-paces-fractional  --auto at 1.5 CPUs turns pacing on by itself; at 1.0 it does not
  paced-uses-quota       --paced uses at least 75 % of the quota, judged only when ceil got 80 %
                         of it in the same rounds (a busy machine gives neither the quota; the
                         benchmark tests/bench/compare-throttle measures the real share)

Usage: test-pace-cgroup.py AUTOPROCS THROTTLE_LOAD
Exit 77 (meson: skipped) with the reason when `autoprocs run` cannot make a cgroup here.
"""
import aptest
import json
import subprocess
import sys

SECONDS = "3"


def run(cli, load, cpus, mode):
    """One run; returns (load JSON, run JSON) or raises with the command's own words."""
    args = [cli, "run", "--cpus", cpus, "--json", "--", load] + mode + [
        "--seconds", SECONDS, "--json"]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode(errors="replace").strip().splitlines()
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, " / ".join(err)))
    return json.loads(p.stdout.decode()), json.loads(err[-1])


def main(argv):
    if len(argv) != 2:
        print("usage: test-pace-cgroup.py AUTOPROCS THROTTLE_LOAD", file=sys.stderr)
        return 2
    cli, load = argv
    probe = subprocess.run([cli, "run", "--cpus", "0.5", "--json", "--", "true"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if probe.returncode != 0:
        print("skipped: autoprocs run cannot make a limited cgroup here: %s" %
              probe.stderr.decode(errors="replace").strip().splitlines()[-1:])
        return 77

    results = []
    ceil_thr = paced_thr = 0
    paced_cpu = ceil_cpu = 0.0
    rows = []
    # Interleaved rounds; a third and fourth only when ceil was never throttled (a machine so
    # loaded that the group could not even spend its quota says nothing about pacing).
    for rnd in range(4):
        if rnd >= 2 and ceil_thr > 0:
            break
        for name, mode in (("ceil", ["--procs", "2"]), ("paced", ["--paced"])):
            out, cg = run(cli, load, "0.5", mode)
            rows.append("round %d %-5s: %d/%d periods throttled, %.2f CPU s, p99 late %.1f ms, "
                        "pacing %s" % (rnd, name, cg["nr_throttled"], cg["nr_periods"],
                                       cg["cpu_seconds"], out["late_p99_ms"], out["pacing"]))
            if name == "ceil":
                ceil_thr += cg["nr_throttled"]
                ceil_cpu += cg["cpu_seconds"]
            else:
                paced_thr += cg["nr_throttled"]
                paced_cpu += cg["cpu_seconds"]
    for r in rows:
        print(r)
    errs = []
    if not paced_thr < ceil_thr:
        errs.append("paced: %d throttled periods, ceil: %d (expected fewer)" % (paced_thr, ceil_thr))
    results.append(("paced-throttles-less", errs))
    # Only a machine that gives the group its quota can tell whether pacing spends it: when
    # ceil itself got less than 80 % (other load), the check says so and does not judge.
    quota_s = 0.5 * float(SECONDS) * (len(rows) // 2)
    errs = []
    if ceil_cpu < 0.8 * quota_s:
        print("paced-uses-quota: not judged: ceil got %.2f of %.2f CPU s (the machine is busy)" %
              (ceil_cpu, quota_s))
    elif paced_cpu < 0.75 * quota_s:
        errs.append("paced used %.2f CPU s of a %.2f CPU s quota (ceil %.2f)" %
                    (paced_cpu, quota_s, ceil_cpu))
    results.append(("paced-uses-quota", errs))

    errs = []
    out, _ = run(cli, load, "1.5", ["--auto"])
    if out["pacing"] is not True:
        errs.append("--auto at 1.5 CPUs: pacing %s" % out["pacing"])
    out, _ = run(cli, load, "1", ["--auto"])
    if out["pacing"] is not False:
        errs.append("--auto at 1.0 CPU: pacing %s" % out["pacing"])
    results.append(("auto-paces-fractional", errs))
    return aptest.report("pace-cgroup", results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
