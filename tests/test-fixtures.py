#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fixture runner: `autoprocs detect --json --root tests/fixtures/<scenario>` against expected.json.

Usage: test-fixtures.py AUTOPROCS FIXTURES_DIR [--only NAME]... [-v]

For every scenario: one run with the default policy (every expected field compared, every contract
field checked for presence and type), one run per policy of "procs_by_policy", one per entry of
"runs" (options such as --min and --reserve).  Then the CLI's usage errors (exit 2, one line on
stderr) and the human report.  Standard library only.  Prints one line per check and finally
"fixtures: N passed, N failed"; exits 1 on any failure.  Last, 150 seeded random mutations of
the fixtures' files: detect must never crash, and must still print one well-formed JSON object.
"""
import aptest
import json
import math
import os
import subprocess
import sys

CONTRACT_FIELDS = ("cgroup_version", "cgroup_path", "limit", "affinity_cpus", "procs", "policy",
                   "throttling", "pressure", "warnings", "notes")
POLICIES = ("go125", "ceil", "floor", "automaxprocs")
META_KEYS = ("description", "args", "exit", "procs_by_policy", "runs", "warnings_nonempty",
             "warnings_contain", "notes_contain")


def run(exe, args, timeout=20):
    try:
        p = subprocess.run([exe, "detect"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %d s" % timeout
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def parse_one_object(out):
    """Exactly one JSON object on stdout (surrounding whitespace allowed); else raise."""
    dec = json.JSONDecoder()
    s = out.strip()
    if not s:
        raise ValueError("empty stdout")
    obj, end = dec.raw_decode(s)
    if s[end:].strip():
        raise ValueError("trailing output after the JSON object: %r" % s[end:end + 60])
    if not isinstance(obj, dict):
        raise ValueError("stdout is JSON but not an object")
    return obj


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(path, exp, got, errs):
    """Append one message per mismatch between expected @exp and output @got at @path."""
    if isinstance(exp, dict) and "$any" in exp:
        for alt in exp["$any"]:
            e = []
            compare(path, alt, got, e)
            if not e:
                return
        errs.append("%s: expected one of %s, got %s" % (path, json.dumps(exp["$any"]),
                                                         json.dumps(got)))
        return
    if exp is None:
        if got is not None:
            errs.append("%s: expected null, got %s" % (path, json.dumps(got)))
        return
    if isinstance(exp, bool):
        if got is not exp:
            errs.append("%s: expected %s, got %s" % (path, json.dumps(exp), json.dumps(got)))
        return
    if isinstance(exp, int):
        if not isinstance(got, int) or isinstance(got, bool) or got != exp:
            errs.append("%s: expected integer %d, got %s" % (path, exp, json.dumps(got)))
        return
    if isinstance(exp, float):
        if not is_num(got) or not math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-9):
            errs.append("%s: expected %r, got %s" % (path, exp, json.dumps(got)))
        return
    if isinstance(exp, str):
        if got != exp:
            errs.append("%s: expected %s, got %s" % (path, json.dumps(exp), json.dumps(got)))
        return
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            errs.append("%s: expected an object, got %s" % (path, json.dumps(got)))
            return
        for k, v in exp.items():
            if isinstance(v, dict) and "$absent_or_null" in v:
                if got.get(k) is not None:
                    errs.append("%s.%s: expected absent or null, got %s" %
                                (path, k, json.dumps(got[k])))
                continue
            if k not in got:
                errs.append("%s.%s: missing (expected %s)" % (path, k, json.dumps(v)))
                continue
            compare("%s.%s" % (path, k), v, got[k], errs)
        return
    if isinstance(exp, list):
        if not isinstance(got, list) or len(got) != len(exp):
            errs.append("%s: expected %s, got %s" % (path, json.dumps(exp), json.dumps(got)))
            return
        for i, (e, g) in enumerate(zip(exp, got)):
            compare("%s[%d]" % (path, i), e, g, errs)
        return
    errs.append("%s: unsupported expectation %r" % (path, exp))


def check_shape(obj, errs):
    """Contract: every field present, null where unknown, with the documented types."""
    for k in CONTRACT_FIELDS:
        if k not in obj:
            errs.append("field %s missing from the JSON object" % k)
    v = obj.get("cgroup_version")
    if v not in (0, 1, 2) or isinstance(v, bool):
        errs.append("cgroup_version: %s is not 0, 1 or 2" % json.dumps(v))
    if obj.get("cgroup_path") is not None and not isinstance(obj["cgroup_path"], str):
        errs.append("cgroup_path: not a string or null")
    lim = obj.get("limit")
    if lim is not None:
        if not isinstance(lim, dict):
            errs.append("limit: not an object or null")
        else:
            for k in ("quota_us", "period_us"):
                if not isinstance(lim.get(k), int) or isinstance(lim.get(k), bool) \
                        or lim[k] <= 0:
                    errs.append("limit.%s: %s is not a positive integer" %
                                (k, json.dumps(lim.get(k))))
            if not is_num(lim.get("cpus")):
                errs.append("limit.cpus: not a number")
            elif isinstance(lim.get("quota_us"), int) and isinstance(lim.get("period_us"), int) \
                    and lim["period_us"] > 0:
                q = lim["quota_us"] / lim["period_us"]
                if not math.isclose(lim["cpus"], q, rel_tol=1e-6):
                    errs.append("limit.cpus %r != quota_us/period_us %r" % (lim["cpus"], q))
            if not isinstance(lim.get("cgroup"), str):
                errs.append("limit.cgroup: not a string")
    a = obj.get("affinity_cpus")
    if a is not None and (not isinstance(a, int) or isinstance(a, bool) or a < 1):
        errs.append("affinity_cpus: %s is not a positive integer or null" % json.dumps(a))
    p = obj.get("procs")
    if not isinstance(p, int) or isinstance(p, bool) or p < 1:
        errs.append("procs: %s is not an integer >= 1" % json.dumps(p))
    if obj.get("policy") not in POLICIES:
        errs.append("policy: %s is not a known policy" % json.dumps(obj.get("policy")))
    t = obj.get("throttling")
    if t is not None:
        if not isinstance(t, dict):
            errs.append("throttling: not an object or null")
        else:
            for k in ("nr_periods", "nr_throttled"):
                if not isinstance(t.get(k), int) or isinstance(t.get(k), bool):
                    errs.append("throttling.%s: not an integer" % k)
            if not is_num(t.get("throttled_seconds")):
                errs.append("throttling.throttled_seconds: not a number")
    pr = obj.get("pressure")
    if pr is not None:
        if not isinstance(pr, dict):
            errs.append("pressure: not an object or null")
        else:
            for k in ("some_avg10", "some_avg60", "some_avg300", "some_total_seconds"):
                if not is_num(pr.get(k)):
                    errs.append("pressure.%s: not a number" % k)
    for k in ("warnings", "notes"):
        w = obj.get(k)
        if not isinstance(w, list) or not all(isinstance(x, str) for x in w):
            errs.append("%s: not an array of strings" % k)


def detect_json(exe, root, args, errs, what):
    rc, out, err = run(exe, ["--json", "--root", root] + args)
    if rc != 0:
        errs.append("%s: exit status %s (expected 0); stderr: %s" % (what, rc, err.strip()[:300]))
        return None
    try:
        return parse_one_object(out)
    except ValueError as e:
        errs.append("%s: stdout is not exactly one JSON object: %s" % (what, e))
        return None


def check_scenario(exe, root, exp):
    errs = []
    args = exp.get("args", [])
    want_exit = exp.get("exit", 0)
    if want_exit != 0:
        rc, out, err = run(exe, ["--json", "--root", root] + args)
        if rc != want_exit:
            errs.append("exit status %s, expected %d (stderr: %s)" % (rc, want_exit,
                                                                       err.strip()[:200]))
        elif not err.strip():
            errs.append("exit status %d without a message on stderr" % rc)
        return errs

    obj = detect_json(exe, root, args, errs, "default run")
    if obj is None:
        return errs
    check_shape(obj, errs)
    for k, v in exp.items():
        if k in META_KEYS:
            continue
        if k not in obj:
            continue        # reported by check_shape
        compare(k, v, obj[k], errs)
    warnings = obj.get("warnings") if isinstance(obj.get("warnings"), list) else []
    if exp.get("warnings_nonempty") is True and not warnings:
        errs.append("warnings: expected at least one warning, got none")
    if exp.get("warnings_nonempty") is False and warnings:
        errs.append("warnings: expected none, got %s" % json.dumps(warnings))
    for sub in exp.get("warnings_contain", []):
        if not any(sub in w for w in warnings):
            errs.append("warnings: none mentions %r (got %s)" % (sub, json.dumps(warnings)))
    notes = obj.get("notes") if isinstance(obj.get("notes"), list) else []
    for sub in exp.get("notes_contain", []):
        if not any(sub in n for n in notes):
            errs.append("notes: none mentions %r (got %s)" % (sub, json.dumps(notes)))

    for policy, procs in sorted(exp.get("procs_by_policy", {}).items()):
        o = detect_json(exe, root, args + ["--policy", policy], errs, "--policy " + policy)
        if o is None:
            continue
        e = []
        compare("procs", procs, o.get("procs"), e)
        compare("policy", policy, o.get("policy"), e)
        errs.extend("--policy %s: %s" % (policy, m) for m in e)
    for r in exp.get("runs", []):
        what = " ".join(r["args"])
        o = detect_json(exe, root, args + r["args"], errs, what)
        if o is None:
            continue
        e = []
        compare("procs", r["procs"], o.get("procs"), e)
        errs.extend("%s: %s" % (what, m) for m in e)
    return errs


def check_usage(exe, fixtures):
    """autoprocs(1): bad usage exits 2 with a one-line message on stderr."""
    root = os.path.join(fixtures, "v2-quota-1.5")
    cases = [
        ["--bogus"],
        ["--json", "--frobnicate", "1"],
        ["--root", root, "--min", "abc"],
        ["--root", root, "--min", "-1"],
        ["--root", root, "--min", "99999999999999999999999"],
        ["--root", root, "--min"],
        ["--root", root, "--reserve", "abc"],
        ["--root", root, "--reserve", "-0.5"],
        ["--root", root, "--reserve", "1.5x"],
        ["--root", root, "--pid", "abc"],
        ["--root", root, "--pid", "12x"],
        ["--root", root, "--policy", "nosuch"],
        ["--root", root, "unexpected-argument"],
    ]
    results = []
    for args in cases:
        name = "usage: detect " + " ".join(a if not a.startswith("/") else "DIR" for a in args)
        errs = []
        rc, out, err = run(exe, args)
        if rc != 2:
            errs.append("exit status %s, expected 2" % rc)
        lines = [x for x in err.split("\n") if x.strip()]
        if len(lines) != 1:
            errs.append("expected exactly one line on stderr, got %d: %r" % (len(lines),
                                                                                err[:300]))
        if out.strip():
            errs.append("expected nothing on stdout, got %r" % out[:200])
        results.append((name, errs))
    return results


def check_human(exe, fixtures):
    """The human report names the limit, where it comes from, the count and the throttling."""
    root = os.path.join(fixtures, "v2-nested-parent-lower")
    errs = []
    rc, out, err = run(exe, ["--root", root])
    if rc != 0:
        errs.append("exit status %s; stderr: %s" % (rc, err.strip()[:300]))
        return errs
    if out.lstrip().startswith("{"):
        errs.append("without --json the output must be the human report, got JSON")
    for needle, why in (("1.5", "the limit (1.5 CPUs)"),
                        ("/kubepods.slice/pod1", "the binding cgroup")):
        if needle not in out:
            errs.append("report does not mention %s (%r): %r" % (why, needle, out[:500]))
    if not any(n in out for n in ("300", "4.25", "4.2")):
        errs.append("report does not show the throttling so far (300 of 900 periods, 4.25 s)")
    if "2" not in out:
        errs.append("report does not show the recommended count 2")
    return errs


def mutate(data, rng):
    """One hostile edit of a procfs/cgroupfs file's bytes."""
    choice = rng.randrange(9)
    if choice == 0:
        return data[:rng.randrange(len(data) + 1)]                   # truncated
    if choice == 1:
        i = rng.randrange(len(data) + 1)
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))) + data[i:]
    if choice == 2:
        return b""
    if choice == 3:
        return data.replace(b"\n", b"")                              # one long line
    if choice == 4:
        return data * rng.randrange(2, 50)                            # repeated
    if choice == 5:
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"99999999999999999999999999" + data[i:]     # overflow
    if choice == 6:
        return data.replace(b" ", b"\t").replace(b":", b"::")
    if choice == 7:
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\0" + data[i:]                            # NUL byte
    return bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.05 else b for b in data)


def check_robustness(exe, fixtures, count=150, seed=20261128):
    """Seeded random mutations of the fixtures' files: detect must never crash; exit 0 with one
    JSON object (or 1 with a message when no CPU count is left), within the timeout."""
    import random
    import shutil
    import tempfile
    rng = random.Random(seed)
    names = sorted(d for d in os.listdir(fixtures)
                   if os.path.isfile(os.path.join(fixtures, d, "expected.json")) and
                   d != "mountinfo-huge")
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-fixtures-")
    errs = []
    try:
        for i in range(count):
            name = rng.choice(names)
            root = os.path.join(tmp, "%d-%s" % (i, name))
            shutil.copytree(os.path.join(fixtures, name), root)
            files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs
                           if f != "expected.json")
            edits = []
            for _ in range(rng.randrange(1, 4)):
                path = rng.choice(files)
                with open(path, "rb") as fh:
                    data = fh.read()
                with open(path, "wb") as fh:
                    fh.write(mutate(data, rng))
                edits.append(os.path.relpath(path, root))
            what = "mutation %d of %s (%s)" % (i, name, ", ".join(edits))
            with open(os.path.join(fixtures, name, "expected.json"), encoding="utf-8") as fh:
                args = json.load(fh).get("args", [])
            rc, out, err = run(exe, ["--json", "--root", root] + args)
            if rc is None or rc < 0 or rc not in (0, 1):
                errs.append("%s: exit status %s; stderr: %s" % (what, rc, err.strip()[:300]))
            elif rc == 1 and not err.strip():
                errs.append("%s: exit 1 without a message" % what)
            elif rc == 0:
                try:
                    check_shape(parse_one_object(out), errs)
                except ValueError as e:
                    errs.append("%s: %s" % (what, e))
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return errs


def main(argv):
    argv = [a for a in argv if a != "-v"]  # accepted for compatibility: every result is printed
    only = []
    while "--only" in argv:
        i = argv.index("--only")
        only.append(argv[i + 1])
        del argv[i:i + 2]
    if len(argv) != 2:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    exe, fixtures = argv
    if not os.path.exists(exe):
        print("fixtures: %s not built (no autoprocs CLI yet), skipping" % exe)
        return 77
    if not os.access(exe, os.X_OK):
        print("fixtures: %s is not an executable" % exe, file=sys.stderr)
        return 1
    failed = 0
    names = sorted(d for d in os.listdir(fixtures)
                   if os.path.isfile(os.path.join(fixtures, d, "expected.json")))
    if len(names) < 30 and not only:
        print("fixtures: only %d scenarios found in %s" % (len(names), fixtures))
        failed += 1
    results = []
    for name in names:
        if only and name not in only:
            continue
        with open(os.path.join(fixtures, name, "expected.json"), encoding="utf-8") as fh:
            exp = json.load(fh)
        results.append((name, check_scenario(exe, os.path.join(fixtures, name), exp)))
    if not only:
        results += check_usage(exe, fixtures)
        results.append(("human report (v2-nested-parent-lower)", check_human(exe, fixtures)))
        results.append(("robustness: 150 seeded mutations of fixture files",
                        check_robustness(exe, fixtures)))
    return aptest.report("fixtures", results, failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
