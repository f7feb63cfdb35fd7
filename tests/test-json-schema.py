#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real output against the JSON Schemas in docs/schema/ (python3-jsonschema).

Usage: test-json-schema.py AUTOPROCS AUTOPROCSD SOURCE_ROOT

- `autoprocs detect --json` on every fixture tree and on this machine: docs/schema/detect.json;
- `autoprocs detect --watch --json` on a copy of a fixture whose cpu.max the test rewrites: a valid
  object at start and one more after the change (and the text form: a line per change);
- autoprocsd's GET /v1/limits with a self, a root: and a missing pid: target: docs/schema/limits.json;
- and, so that the check can fail, objects with a wrong field are rejected.
Exits 77 when python3-jsonschema is not installed.
"""
import aptest
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)


def validators(schema_dir):
    with open(os.path.join(schema_dir, "detect.json")) as f:
        detect = json.load(f)
    with open(os.path.join(schema_dir, "limits.json")) as f:
        limits = json.load(f)
    cls = jsonschema.validators.validator_for(detect)
    cls.check_schema(detect)
    cls.check_schema(limits)
    try:  # jsonschema >= 4.18
        import referencing
        res = referencing.Resource.from_contents(detect)
        registry = referencing.Registry().with_resources([(detect["$id"], res), ("detect.json", res)])
        return cls(detect), cls(limits, registry=registry)
    except ImportError:  # Debian 12's 4.10
        resolver = jsonschema.RefResolver.from_schema(limits, store={detect["$id"]: detect})
        return cls(detect), cls(limits, resolver=resolver)


def errors_of(validator, obj):
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
            for e in validator.iter_errors(obj)]


def detect_json(cli, args):
    p = subprocess.run([cli, "detect", "--json"] + args, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.strip()[:300])
    return json.loads(p.stdout), None


def read_lines(proc, want, timeout):
    """Lines of @proc's stdout until @want of them or @timeout seconds."""
    lines, buf, deadline = [], b"", time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while len(lines) < want and time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [d.decode() for d in done]
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    return lines


def check_watch(cli, fixtures, v_detect, json_mode):
    errs = []
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        tree = os.path.join(tmp, "tree")
        shutil.copytree(os.path.join(fixtures, "v2-quota-1.5"), tree, symlinks=True)
        leaf = os.path.join(tree, "sys/fs/cgroup/app.slice/app.service/cpu.max")
        args = [cli, "detect", "--watch", "--interval", "0.02", "--policy", "ceil", "--root", tree]
        proc = subprocess.Popen(args + (["--json"] if json_mode else []), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            first = read_lines(proc, 1, 20)
            with open(leaf, "w") as f:
                f.write("50000 100000\n")
            second = read_lines(proc, 1, 20)
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
        lines = first + second
        if rc != 0:
            errs.append("exit %d after SIGTERM: %s" % (rc, proc.stderr.read().decode()[:300]))
        if len(lines) != 2:
            errs.append("expected a line at start and one after the change, got %r" % lines)
            return errs
        if json_mode:
            objs = [json.loads(x) for x in lines]
            for o in objs:
                errs += errors_of(v_detect, o)
            got = [(o["limit"] or {}).get("quota_us") for o in objs]
            if got != [150000, 50000] or [o["procs"] for o in objs] != [2, 1]:
                errs.append("quota/procs per line %r / %r, expected [150000, 50000] / [2, 1]"
                            % (got, [o["procs"] for o in objs]))
        elif not ("2 processors: limit 1.5 CPUs" in lines[0] and "1 processor: limit 0.5 CPUs" in lines[1]):
            errs.append("text lines %r" % lines)
    return errs


def check_daemon(daemon, fixtures, v_limits):
    errs = []
    root = os.path.join(fixtures, "v2-quota-1.5")
    p = subprocess.Popen([daemon, "--listen", "127.0.0.1:0", "--interval", "100ms", "--target", "self",
                          "--target", "root:" + root, "--target", "pid:2147483646"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    url, seen, deadline = None, b"", time.monotonic() + 30
    os.set_blocking(p.stderr.fileno(), False)
    try:
        while url is None and time.monotonic() < deadline and p.poll() is None:
            seen += p.stderr.read() or b""
            for line in seen.decode(errors="replace").splitlines():
                if "serving metrics on http://" in line:
                    url = line.split("serving metrics on ", 1)[1].strip().replace("/metrics", "/v1/limits")
            time.sleep(0.05)
        if not url:
            return ["the daemon did not start: %r" % seen[-400:]]
        body = None
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
            if len(body) == 3 and all("procs" in o or o.get("error") == "target not found" for o in body):
                break
            time.sleep(0.1)
        errs += errors_of(v_limits, body)
        if not body or [o["target"] for o in body] != ["self", "root:" + root, "pid:2147483646"]:
            errs.append("targets %r" % body)
        elif "runtime_procs" not in body[0] or body[1].get("limit_file", "").split("/")[-1] != "cpu.max":
            errs.append("self without runtime_procs or root: without limit_file: %r" % body[:2])
    finally:
        p.terminate()
        p.wait(10)
    return errs


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    cli, daemon, src = sys.argv[1:]
    fixtures = os.path.join(src, "tests", "fixtures")
    v_detect, v_limits = validators(os.path.join(src, "docs", "schema"))
    results = []

    trees = sorted(d for d in os.listdir(fixtures) if os.path.isfile(os.path.join(fixtures, d, "expected.json")))
    bad = []
    for d in trees:
        obj, err = detect_json(cli, ["--root", os.path.join(fixtures, d)])
        if obj is None:
            with open(os.path.join(fixtures, d, "expected.json")) as f:
                if json.load(f).get("exit", 0) == 0:
                    bad.append("%s: %s" % (d, err))
            continue
        bad += ["%s: %s" % (d, e) for e in errors_of(v_detect, obj)]
    results.append(("detect --json on %d fixture trees matches detect.json" % len(trees), bad))

    obj, err = detect_json(cli, [])
    results.append(("detect --json on this machine matches detect.json", [err] if err else errors_of(v_detect, obj)))
    if obj:
        # The schema can fail: a broken copy is rejected.
        for field, value in (("procs", 0), ("policy", "round"), ("affinity_source", "mask"),
                             ("limit", {"quota_us": 1}), ("warnings", "none")):
            broken = copy.deepcopy(obj)
            broken[field] = value
            results.append(("detect.json rejects %s = %r" % (field, value),
                            [] if errors_of(v_detect, broken) else ["accepted"]))
        broken = copy.deepcopy(obj)
        del broken["limit_file"]
        results.append(("detect.json rejects an object without limit_file",
                        [] if errors_of(v_detect, broken) else ["accepted"]))

    results.append(("detect --watch --json: a valid object at start and per change",
                    check_watch(cli, fixtures, v_detect, True)))
    results.append(("detect --watch: a line at start and per change", check_watch(cli, fixtures, v_detect, False)))
    results.append(("autoprocsd /v1/limits matches limits.json", check_daemon(daemon, fixtures, v_limits)))
    results.append(("limits.json rejects an entry without target",
                    [] if errors_of(v_limits, [{"error": "x"}]) else ["accepted"]))
    return aptest.report("json-schema", results)


if __name__ == "__main__":
    sys.exit(main())
