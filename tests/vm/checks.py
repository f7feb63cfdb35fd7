# SPDX-License-Identifier: MIT
"""What the cgroup v2 VM's cases must show (tests/vm/init.sh sets them up), and the TAP report.

Each case listed in CASES is expected from the VM: a case that sent nothing fails.  A judge gets
the case's Case (stdout lines, stderr lines, exit status, raw facts, the VM's own verdict) and
returns a list of what is wrong (empty: passed).
"""
import json

CPUS = 2  # -smp 2 in run-vm.py


class Case:
    def __init__(self, name):
        self.name = name
        self.out = []
        self.err = []
        self.exit = None
        self.raw = {}
        self.result = None   # (status, detail) from AP-RESULT

    def json(self):
        if len(self.out) != 1:
            raise ValueError("stdout has %d lines, not one JSON object: %r" % (len(self.out), self.out[:3]))
        return json.loads(self.out[0])


def parse(lines):
    cases = {}
    done = False
    for line in lines:
        i = line.find("AP-")
        if i < 0:
            continue
        line = line[i:]
        if line.startswith("AP-DONE"):
            done = True
            continue
        f = line.split(" ", 2)
        if len(f) < 2:
            continue
        tag, name = f[0], f[1]
        rest = f[2] if len(f) > 2 else ""
        c = cases.setdefault(name, Case(name))
        if tag == "AP-OUT":
            c.out.append(rest)
        elif tag == "AP-ERR":
            c.err.append(rest)
        elif tag == "AP-EXIT":
            c.exit = int(rest)
        elif tag == "AP-RAW":
            k, _, v = rest.partition(" ")
            c.raw[k] = v
        elif tag == "AP-RESULT":
            s, _, d = rest.partition(" ")
            c.result = (s, d)
    return cases, done


# ---------------------------------------------------------------- judges
def ok_detect(c, errs):
    if c.exit != 0:
        errs.append("exit %s, stderr %r" % (c.exit, c.err))
    try:
        return c.json()
    except ValueError as e:
        errs.append(str(e))
        return None


def expect_limit(cpus, cgroup, procs=None, affinity=CPUS, quota=None, period=None, path=None,
                 policy=None, note=None):
    def judge(c):
        errs = []
        j = ok_detect(c, errs)
        if j is None:
            return errs
        if j.get("cgroup_version") != 2:
            errs.append("cgroup_version %r, want 2" % j.get("cgroup_version"))
        lim = j.get("limit")
        if cpus is None:
            if lim is not None:
                errs.append("limit %r, want null (unlimited)" % lim)
        elif not lim:
            errs.append("limit null, want %s CPUs from %s" % (cpus, cgroup))
        else:
            if abs(lim.get("cpus", -1) - cpus) > 1e-9:
                errs.append("limit.cpus %r, want %s" % (lim.get("cpus"), cpus))
            if lim.get("cgroup") != cgroup:
                errs.append("limit.cgroup %r, want %r" % (lim.get("cgroup"), cgroup))
            if quota is not None and (lim.get("quota_us"), lim.get("period_us")) != (quota, period):
                errs.append("quota/period %r/%r, want %r/%r" % (lim.get("quota_us"), lim.get("period_us"),
                                                                quota, period))
        if path is not None and j.get("cgroup_path") != path:
            errs.append("cgroup_path %r, want %r" % (j.get("cgroup_path"), path))
        if j.get("affinity_cpus") != affinity:
            errs.append("affinity_cpus %r, want %d" % (j.get("affinity_cpus"), affinity))
        if procs is not None and j.get("procs") != procs:
            errs.append("procs %r, want %d" % (j.get("procs"), procs))
        if policy is not None and j.get("policy") != policy:
            errs.append("policy %r, want %r" % (j.get("policy"), policy))
        if j.get("warnings"):
            errs.append("warnings %r, want none" % j.get("warnings"))
        notes = j.get("notes")
        if not isinstance(notes, list):
            errs.append("notes %r, want a list" % notes)
        elif note is None and notes:
            errs.append("notes %r, want none" % notes)
        elif note is not None and not any(note in n for n in notes):
            errs.append("notes %r, want one mentioning %r" % (notes, note))
        if c.err:
            errs.append("stderr %r, want nothing" % c.err)
        return errs
    return judge


def vm_judged(c):
    if c.result is None:
        return ["the VM sent no verdict"]
    return [] if c.result[0] in ("ok", "skip") else [c.result[1] or "failed"]


def text_report(c):
    errs = []
    if c.exit != 0:
        errs.append("exit %s" % c.exit)
    text = "\n".join(c.out)
    for want in ["cgroup:       v2 /autoprocs-test-leaf", "CPU limit:    0.5 CPUs (quota 50000 us per period 100000 us)",
                 "set by:     cgroup /autoprocs-test-leaf"]:
        if want not in text:
            errs.append("no %r in %r" % (want, c.out))
    return errs


def cgroup_missing(c):
    errs = []
    if c.exit in (0, None):
        errs.append("exit %s, want a failure" % c.exit)
    if len(c.err) != 1 or "/nonexistent" not in c.err[0]:
        errs.append("stderr %r, want one line naming /nonexistent" % c.err)
    if c.out:
        errs.append("stdout %r, want nothing" % c.out)
    return errs


def throttling(c):
    errs = []
    j = ok_detect(c, errs)
    if j is None:
        return errs
    raw = c.raw
    t = j.get("throttling") or {}
    try:
        want = {"nr_periods": int(raw["nr_periods"]), "nr_throttled": int(raw["nr_throttled"])}
        want_s = int(raw["throttled_usec"]) / 1e6
    except (KeyError, ValueError):
        return errs + ["raw cpu.stat incomplete: %r" % raw]
    for k, v in want.items():
        if t.get(k) != v:
            errs.append("throttling.%s %r, cpu.stat says %d" % (k, t.get(k), v))
    if abs((t.get("throttled_seconds") or -1) - want_s) > 1e-6:
        errs.append("throttled_seconds %r, cpu.stat says %.6f" % (t.get("throttled_seconds"), want_s))
    if want["nr_throttled"] == 0:
        errs.append("the 0.2-CPU busy loop was never throttled (cpu.stat %r)" % raw)
    p = j.get("pressure") or {}
    for kind in ("some", "full"):
        line = raw.get(kind)
        if not line:
            errs.append("no raw cpu.pressure %s line" % kind)
            continue
        f = dict(x.split("=") for x in line.split())
        total = int(f["total"]) / 1e6
        got = p.get(kind + "_total_seconds")
        # Idle after the load: the total no longer moves; the averages decay a little between reads.
        if got is None or abs(got - total) > 0.01:
            errs.append("pressure.%s_total_seconds %r, cpu.pressure says %.6f" % (kind, got, total))
        for w in ("avg10", "avg60", "avg300"):
            g = p.get("%s_%s" % (kind, w))
            if g is None or abs(g - float(f[w])) > 5.0:
                errs.append("pressure.%s_%s %r, cpu.pressure says %s" % (kind, w, g, f[w]))
    if p.get("some_total_seconds", 0) <= 0:
        errs.append("no CPU pressure recorded under a 0.2-CPU limit: %r" % p)
    return errs


def exec_env(want):
    def judge(c):
        errs = []
        if c.exit != 0:
            errs.append("exit %s, stderr %r" % (c.exit, c.err))
        if c.out != [want]:
            errs.append("stdout %r, want %r" % (c.out, want))
        return errs
    return judge


def one_json_line(c, errs):
    """The summary of `run --json`: exactly one line on stderr, a JSON object."""
    if len(c.err) != 1:
        errs.append("stderr has %d lines, want exactly the JSON summary: %r" % (len(c.err), c.err))
        return None
    try:
        return json.loads(c.err[0])
    except ValueError:
        errs.append("stderr is not JSON: %r" % c.err[0])
        return None


def nothing_left(c, errs, key="left"):
    if c.raw.get(key, "").strip():
        errs.append("left behind: %s" % c.raw[key])
    if c.raw.get("subtree_before") != c.raw.get("subtree_after"):
        errs.append("cgroup.subtree_control was %r, is %r" % (c.raw.get("subtree_before"),
                                                             c.raw.get("subtree_after")))


def run_json(stdout=None, stdout_prefix=None, stdout_ignore=False):
    def judge(c):
        errs = []
        if c.exit != 0:
            errs.append("exit %s, want 0" % c.exit)
        j = one_json_line(c, errs)
        if j is not None:
            if abs(j.get("cpus", 0) - 0.5) > 1e-9 or j.get("exit_status") != 0:
                errs.append("summary %r, want cpus 0.5, exit_status 0" % j)
        if not stdout_ignore and stdout is not None and c.out != stdout:
            errs.append("stdout %r, want %r" % (c.out, stdout))
        if stdout_prefix is not None and (len(c.out) < 1 or not c.out[0].startswith(stdout_prefix[0]) or
                                          c.out[1:] != stdout_prefix[1:]):
            errs.append("stdout %r, want %r..." % (c.out, stdout_prefix))
        nothing_left(c, errs)
        return errs
    return judge


def run_busy_loop(c):
    errs = run_json()(c)
    j = one_json_line(c, [])
    if j and not 0.2 < j.get("cpu_seconds", 0) < 0.8:
        errs.append("cpu_seconds %r for 1 s of busy loop under 0.5 CPUs" % j.get("cpu_seconds"))
    if j and not j.get("nr_throttled"):
        errs.append("summary %r: never throttled: the limit did not apply" % j)
    return errs


def run_exit(c):
    errs = []
    if c.exit != 3:
        errs.append("exit %s, want CMD's 3" % c.exit)
    text = "\n".join(c.err)
    if "exit status       3" not in text or "removing" in text or "cannot" in text:
        errs.append("stderr %r, want the summary only" % c.err)
    if c.raw.get("left", "").strip():
        errs.append("left behind: %s" % c.raw["left"])
    return errs


def run_refused(words):
    def judge(c):
        errs = []
        if c.exit != 125:
            errs.append("exit %s, want 125" % c.exit)
        if len(c.err) != 1 or words not in c.err[0]:
            errs.append("stderr %r, want one line saying %r" % (c.err, words))
        nothing_left(c, errs)
        return errs
    return judge


LEAF = "/autoprocs-test-leaf"
CASES = [
    ("boot", vm_judged),
    ("detect-root", expect_limit(None, None, procs=CPUS, path="/")),
    ("detect-leaf", expect_limit(0.5, LEAF, procs=2, quota=50000, period=100000, path=LEAF, policy="go125")),
    ("detect-leaf-ceil", expect_limit(0.5, LEAF, procs=1, policy="ceil")),
    ("detect-leaf-text", text_report),
    ("detect-parent", expect_limit(1.0, "/autoprocs-test-parent", procs=2, path="/autoprocs-test-parent/child")),
    ("detect-nested", expect_limit(0.7, "/autoprocs-test-nest/a", procs=2, quota=70000, period=100000,
                                   path="/autoprocs-test-nest/a/b")),
    ("detect-cpuset", expect_limit(2.5, "/autoprocs-test-cpuset", procs=1, affinity=1)),
    ("detect-cpuset-automaxprocs", expect_limit(2.5, "/autoprocs-test-cpuset", procs=2, affinity=1)),
    ("detect-period-10ms", expect_limit(0.5, "/autoprocs-test-p10ms", quota=5000, period=10000)),
    ("detect-period-1s", expect_limit(1.5, "/autoprocs-test-p1s", procs=2, quota=1500000, period=1000000)),
    # Paths are seen from the namespace root, as /proc/self/cgroup shows them; how the cgroup was
    # found is a note, not a warning.
    ("detect-cgroupns", expect_limit(0.5, "/", procs=2, path="/", note="by its cgroup.procs")),
    ("detect-container", expect_limit(0.5, "/", procs=2, path="/")),
    ("detect-container-above", expect_limit(None, None, procs=2, path="/")),
    ("detect-pid", expect_limit(0.25, "/autoprocs-test-pid", path="/autoprocs-test-pid")),
    ("detect-unpriv", expect_limit(0.5, LEAF, procs=2, path=LEAF)),
    ("detect-cgroup-dir", expect_limit(0.5, LEAF)),
    ("detect-cgroup-printed", expect_limit(0.5, LEAF)),
    ("detect-cgroup-missing", cgroup_missing),
    ("stat-throttling", throttling),
    ("exec-ceil", exec_env("GOMAXPROCS=1 AUTOPROCS_PROCS=1")),
    ("exec-cpuset", exec_env("GOMAXPROCS=1")),
    ("init-follow", vm_judged),
    ("daemon-follow", vm_judged),
    ("daemon-quiet", vm_judged),
    ("run-json", run_busy_loop),  # throttle-load's own report on stdout is not judged
    ("run-cpuset", run_json(stdout=["Cpus_allowed_list:\t0"])),
    ("run-exit", run_exit),
    ("run-unpriv", run_refused("needs root or a writable cgroup hierarchy")),
    # In a container's root cgroup (alone there): the command runs in a leaf made for it.
    ("run-container", run_json(stdout_prefix=["0::/autoprocs-run-", "50000 100000"])),
    ("run-container-busy", run_refused("holds other processes")),
    ("check-test-run", vm_judged),
    ("check-test-init-cgroup", vm_judged),
    ("cleanup", vm_judged),
]


def report(lines, timed_out, timeout, log_path, only=""):
    cases, done = parse(lines)
    prefixes = [p for p in only.split(",") if p]
    wanted = [(n, j) for n, j in CASES if not prefixes or n in ("boot", "cleanup") or
              any(n.startswith(p) for p in prefixes)]
    print("1..%d" % (len(wanted) + 1))
    failed = 0
    for i, (name, judge) in enumerate(wanted, 1):
        c = cases.get(name)
        if c is None:
            errs = ["the VM sent nothing for this case"]
        elif c.result and c.result[0] == "skip":
            print("ok %d %s # SKIP %s" % (i, name, c.result[1]))
            continue
        else:
            try:
                errs = judge(c)
            except Exception as e:  # a judge must never hide the other cases
                errs = ["judge raised %r" % e]
        if errs:
            failed += 1
            print("not ok %d %s" % (i, name))
            for e in errs:
                print("#   %s" % e)
            if c is not None:
                for l in c.out[:10]:
                    print("#   stdout: %s" % l)
                for l in c.err[:10]:
                    print("#   stderr: %s" % l)
        else:
            print("ok %d %s" % (i, name))
    unknown = sorted(set(cases) - {n for n, _ in CASES})
    n = len(wanted) + 1
    if not done:
        failed += 1
        why = "timed out after %.0f s" % timeout if timed_out else "stopped before AP-DONE"
        print("not ok %d vm-complete # the VM %s; serial log %s" % (n, why, log_path))
        for l in lines[-15:]:
            print("#   %s" % l)
    else:
        print("ok %d vm-complete%s" % (n, " (cases not judged: %s)" % ", ".join(unknown) if unknown else ""))
    return 1 if failed else 0
