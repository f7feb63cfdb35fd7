#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The container engine cases (meson suite "container"), one per meson test.

Usage: test-container.py CASE AUTOPROCS_CLI
Run by tests/container/run.sh, which starts a private dockerd and builds the image; it passes
AP_DOCKER (client), AP_DOCKER_HOST (the private socket), AP_IMAGE (deploy/Containerfile built as
written) and AP_BASE_IMAGE (debian:12 made with mmdebstrap).  Without them every case exits 77.
Containers run with --network none or in another test container's network namespace; the test
reaches 127.0.0.1 inside it by entering that namespace (nsenter --net), never through a bridge.
Every container carries the label autoprocs-test and is removed at the end of its case; cgroups
made here are named autoprocs-test-docker-* and removed too, also on failure.
Exit 0 pass, 1 fail, 77 skip.
"""
import calendar
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

SKIP = 77
DOCKER = os.environ.get("AP_DOCKER")
HOST = os.environ.get("AP_DOCKER_HOST")
IMAGE = os.environ.get("AP_IMAGE")
BASE = os.environ.get("AP_BASE_IMAGE")
CLI = None
FAILS = []
SEQ = [0]
# The app of the sidecar and node agent cases: a shell spinning on the CPU (comm "sh").
SPIN = ["sh", "-c", "while :; do :; done"]
# A container that only waits (SIGTERM ends it at once: sleep is not pid 1).
IDLE = ["--init", BASE, "sleep", "600"]


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        FAILS.append(what)
    return cond


def dk(*args, timeout=180, ok=True):
    """One docker command; its CompletedProcess (text).  @ok: a non-zero exit fails the case."""
    p = subprocess.run([DOCKER, "-H", HOST] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    if ok and p.returncode != 0:
        raise RuntimeError("docker %s: exit %d: %s" % (" ".join(args[:3]), p.returncode,
                                                      p.stderr.strip()[-400:]))
    return p


def wait_for(fn, what, timeout=30.0, step=0.25):
    """Poll @fn until it returns a true value or @timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            if not v:
                print("# timed out after %.0f s waiting for %s" % (timeout, what))
            return v
        time.sleep(step)


class Containers:
    """The containers of one case: started detached, removed (docker rm -f) at the end."""

    def __init__(self):
        self.names = []

    def run(self, opts, image_and_cmd):
        SEQ[0] += 1
        name = "autoprocs-test-%s-%d-%d" % (re.sub(r"[^a-z0-9]+", "-", CASE), os.getpid(), SEQ[0])
        dk("run", "-d", "--name", name, "--label", "autoprocs-test=1", *opts, *image_and_cmd)
        self.names.append(name)
        return name

    def close(self):
        for n in reversed(self.names):
            dk("rm", "-f", n, ok=False, timeout=60)


@contextlib.contextmanager
def containers():
    c = Containers()
    try:
        yield c
    finally:
        c.close()


def inspect(name, fmt):
    return dk("inspect", "-f", fmt, name).stdout.strip()


def pid_of(name):
    return int(inspect(name, "{{.State.Pid}}"))


def logs(name):
    p = dk("logs", name, ok=False)
    return p.stdout + p.stderr


HTTP_GET = r"""
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
except Exception as e:
    print("000"); print(e); sys.exit(0)
sys.stdout.write("%d\n" % code); sys.stdout.write(body.decode())
"""


def http_get(name, path, port=9464):
    """GET http://127.0.0.1:PORT/PATH inside container @name's network namespace.
    Returns (status, body); status 0 when nothing answers."""
    p = subprocess.run(["nsenter", "--target", str(pid_of(name)), "--net", "--", sys.executable,
                        "-c", HTTP_GET, "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True, timeout=30)
    first, _, body = p.stdout.partition("\n")
    try:
        return int(first), body
    except ValueError:
        return 0, p.stdout + p.stderr


def metrics(name):
    """{(metric, frozenset(labels)): value} of /metrics, {} when it does not answer 200."""
    code, body = http_get(name, "/metrics")
    out = {}
    if code != 200:
        return out
    for line in body.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(ms, name, target):
    for (n, labels), v in ms.items():
        if n == name and ("target", target) in labels:
            return v
    return None


def limits(name):
    code, body = http_get(name, "/v1/limits")
    return json.loads(body) if code == 200 else None


def limit_of(name, target):
    for e in limits(name) or []:
        if e.get("target") == target:
            return e
    return None


def detect_in(opts):
    """`autoprocs detect --json` as the entry point of a container of the image."""
    p = dk("run", "--rm", "--label", "autoprocs-test=1", "--network", "none", *opts,
           "--entrypoint", "autoprocs", IMAGE, "detect", "--json")
    return json.loads(p.stdout)


def detect_host(pid):
    """`autoprocs detect --json --pid PID` of the build tree, on the host."""
    p = subprocess.run([CLI, "detect", "--json", "--pid", str(pid)], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, "host detect --pid %d exits 0 (%s)" % (pid, p.stderr.strip()))
    return json.loads(p.stdout) if p.returncode == 0 else {}


def cpus(facts):
    lim = facts.get("limit")
    return lim["cpus"] if lim else None


def show(facts):
    print("# " + json.dumps(facts))


def engine_cgroup_version():
    return int(dk("info", "-f", "{{.CgroupVersion}}").stdout.strip())


def online_cpus():
    return os.cpu_count()


# ---- cgroups made by the test ---------------------------------------------------------------

V1_ROOT = "/sys/fs/cgroup"


@contextlib.contextmanager
def parent_cgroup(quota_us, period_us=100000):
    """A cgroup autoprocs-test-docker-parent-PID with a CPU quota, as a --cgroup-parent; on exit
    it is removed from every hierarchy (runc makes it in each v1 controller it uses)."""
    name = "autoprocs-test-docker-parent-%d" % os.getpid()
    v2 = os.path.exists(os.path.join(V1_ROOT, "cgroup.controllers"))
    cpu = os.path.join(V1_ROOT, name) if v2 else os.path.join(V1_ROOT, "cpu", name)
    os.mkdir(cpu)
    try:
        if v2:
            with open(os.path.join(cpu, "cpu.max"), "w") as f:
                f.write("%d %d" % (quota_us, period_us))
        else:
            with open(os.path.join(cpu, "cpu.cfs_period_us"), "w") as f:
                f.write(str(period_us))
            with open(os.path.join(cpu, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota_us))
        yield name
    finally:
        dirs = [os.path.join(V1_ROOT, name)] + [os.path.join(V1_ROOT, h, name)
                                                 for h in os.listdir(V1_ROOT)]
        for d in dirs:
            if not os.path.isdir(d):
                continue
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)
            if os.path.isdir(d):
                check(False, "cgroup %s removed" % d)


# ---- the cases ----------------------------------------------------------------------------------

def detect_case(opts, want_cpus, want_aff, want_procs, cgroupns=None):
    facts = detect_in(opts)
    show(facts)
    check(facts.get("cgroup_version") == engine_cgroup_version(),
          "cgroup_version %s is the engine's" % facts.get("cgroup_version"))
    check(cpus(facts) == want_cpus, "limit.cpus %s == %s" % (cpus(facts), want_cpus))
    check(facts.get("affinity_cpus") == want_aff, "affinity_cpus %s == %s" % (facts.get("affinity_cpus"), want_aff))
    check(facts.get("procs") == want_procs, "procs %s == %s" % (facts.get("procs"), want_procs))
    check(facts.get("throttling") is not None, "throttling is read")
    if cgroupns == "private":
        check(facts.get("cgroup_path") == "/", "a private cgroup namespace shows the cgroup as /")
    elif cgroupns == "host":
        path = facts.get("cgroup_path") or ""
        check(path.startswith("/") and len(path) > 1, "host cgroup namespace: full path %s" % path)
        check((facts.get("limit") or {}).get("cgroup") == path, "the limit is the container's own cgroup")


def case_detect_cpus_05():
    detect_case(["--cpus", "0.5"], 0.5, online_cpus(), min(online_cpus(), 2))


def case_detect_cpus_15():
    detect_case(["--cpus", "1.5"], 1.5, online_cpus(), min(online_cpus(), 2))


def case_detect_cpuset_25():
    # docker refuses --cpus above the machine's CPU count (2 here): the same limit as quota/period.
    detect_case(["--cpuset-cpus", "0", "--cpu-period", "100000", "--cpu-quota", "250000"], 2.5, 1, 1)


def case_detect_cgroupns_private():
    detect_case(["--cgroupns", "private", "--cpus", "0.5"], 0.5, online_cpus(), min(online_cpus(), 2),
                cgroupns="private")


def case_detect_cgroupns_host():
    detect_case(["--cgroupns", "host", "--cpus", "0.5"], 0.5, online_cpus(), min(online_cpus(), 2),
                cgroupns="host")


def case_detect_cgroup_parent():
    """A parent quota (0.3) over a container without its own (v1 refuses a child quota above the
    parent's): the kernel enforces the parent's.  Inside the container the parent is above the
    mounted cgroup root and cannot be seen (the README's limits say so); from the host (--pid)
    and from a node agent (case node-agent) it binds."""
    with parent_cgroup(30000) as parent, containers() as c:
        for ns in ("host", "private"):
            facts = detect_in(["--cgroup-parent", "/" + parent, "--cgroupns", ns])
            show(facts)
            check(cpus(facts) is None, "cgroupns %s: inside, the parent's limit is not visible "
                  "(got %s)" % (ns, cpus(facts)))
        app = c.run(["--network", "none", "--cgroup-parent", "/" + parent], IDLE)
        facts = detect_host(pid_of(app))
        show(facts)
        check(cpus(facts) == 0.3, "host --pid: limit.cpus %s == 0.3 (the parent binds)" % cpus(facts))
        check((facts.get("limit") or {}).get("cgroup") == "/" + parent,
              "host --pid: limit.cgroup is /%s" % parent)


def run_sidecar(c, app_user, sidecar_opts, app_cpus="0.5"):
    """The app (a spinning sh, --cpus 0.5) and autoprocsd beside it in its pid and network
    namespaces, --read-only, --cap-drop ALL, its own limit 0.25 (a wrong answer shows as 0.25)."""
    app = c.run(["--network", "none", "--cpus", app_cpus] + (["--user", app_user] if app_user else []),
                [BASE] + SPIN)
    sc = c.run(["--pid", "container:" + app, "--network", "container:" + app, "--read-only",
                "--cap-drop", "ALL", "--cpus", "0.25"] + sidecar_opts,
               [IMAGE, "--listen", "127.0.0.1:9464", "--interval", "1s", "--target", "self",
                "--target", "comm:sh"])
    return app, sc


def sidecar_ready(app):
    return wait_for(lambda: metric(metrics(app), "autoprocs_target_up", "comm:sh") is not None,
                    "the sidecar's first probe of comm:sh", timeout=30)


def expect_right(app, sc):
    if not check(sidecar_ready(app), "sidecar serves comm:sh"):
        print(logs(sc))
        return
    ms = metrics(app)
    check(metric(ms, "autoprocs_target_up", "comm:sh") == 1, "target_up{comm:sh} 1")
    check(metric(ms, "autoprocs_cpu_limit_cores", "comm:sh") == 0.5,
          "the app's limit 0.5 (got %s)" % metric(ms, "autoprocs_cpu_limit_cores", "comm:sh"))
    check(metric(ms, "autoprocs_cpu_limit_cores", "self") == 0.25,
          "the sidecar's own limit 0.25 (got %s)" % metric(ms, "autoprocs_cpu_limit_cores", "self"))
    e = limit_of(app, "comm:sh") or {}
    check((e.get("limit") or {}).get("cpus") == 0.5, "/v1/limits comm:sh limit.cpus 0.5: %s" % e)
    check_counters(app, "comm:sh", app)


def host_cpu_stat(container):
    """nr_periods and nr_throttled of @container's cgroup, read on the host (cgroupfs driver)."""
    cid = inspect(container, "{{.Id}}")
    parent = inspect(container, "{{.HostConfig.CgroupParent}}") or "/docker"
    v2 = engine_cgroup_version() == 2
    path = os.path.join(V1_ROOT, "" if v2 else "cpu", parent.lstrip("/"), cid, "cpu.stat")
    with open(path) as f:
        kv = dict(l.split() for l in f if l.strip())
    return int(kv["nr_periods"]), int(kv["nr_throttled"])


def check_counters(scrape_from, target, app):
    """The served period and throttling counters are the kernel's: a scrape lies between host
    reads of the app's cpu.stat, one taken 3 s before it (the served sample is up to one interval
    old) and one just after.  Whether a 0.5-CPU spinner is throttled at all depends on the
    machine's load; that the numbers are the kernel's does not."""
    seen = []
    for attempt in range(4):
        b = host_cpu_stat(app)
        time.sleep(3)
        ms = metrics(scrape_from)
        a = host_cpu_stat(app)
        p = metric(ms, "autoprocs_cpu_periods_total", target)
        t = metric(ms, "autoprocs_cpu_throttled_periods_total", target)
        what = "periods %s in [%d, %d], throttled %s in [%d, %d]" % (p, b[0], a[0], t, b[1], a[1])
        seen.append(p or 0)
        if p is not None and t is not None and b[0] <= p <= a[0] and b[1] <= t <= a[1]:
            check(True, what)
            break
        print("# attempt %d: %s" % (attempt + 1, what))
    else:
        check(False, "the served counters never fell between the kernel's reads")
    time.sleep(1.5)
    p2 = metric(metrics(scrape_from), "autoprocs_cpu_periods_total", target)
    check(p2 is not None and p2 > seen[0], "the periods advance: %s -> %s" % (seen[0], p2))


def expect_unknown(app, sc):
    """The sidecar cannot see the app's cgroup: no number for it, the reason logged."""
    if not check(sidecar_ready(app), "sidecar serves comm:sh"):
        print(logs(sc))
        return
    ms = metrics(app)
    check(metric(ms, "autoprocs_target_up", "comm:sh") == 0, "target_up{comm:sh} 0")
    check(metric(ms, "autoprocs_cpu_limit_cores", "comm:sh") is None,
          "no limit served for comm:sh (got %s)" % metric(ms, "autoprocs_cpu_limit_cores", "comm:sh"))
    errs = sum(v for (n, labels), v in ms.items()
               if n == "autoprocs_probe_errors_total" and ("target", "comm:sh") in labels)
    check(errs > 0, "probe errors counted for comm:sh (%s)" % errs)
    e = limit_of(app, "comm:sh") or {}
    check(e.get("limit") is None and "error" in e, "/v1/limits comm:sh has an error, no limit: %s" % e)
    text = logs(sc)
    check(re.search(r"comm:sh.*/proc/\d+/root", text) is not None,
          "the log names /proc/PID/root as the reason")
    print("# sidecar log:\n" + "\n".join("#   " + l for l in text.splitlines()[-6:]))


def case_sidecar_same_user():
    with containers() as c:
        app, sc = run_sidecar(c, "65532:65532", ["--user", "65532:65532"])
        expect_right(app, sc)


def case_sidecar_other_user():
    """App as root, sidecar as the image's user 65532: /proc/PID/root is closed to it."""
    with containers() as c:
        app, sc = run_sidecar(c, None, [])
        check(inspect(sc, "{{.Config.User}}") == "65532:65532", "the sidecar runs as the image's user")
        expect_unknown(app, sc)


def case_sidecar_root_ptrace():
    """App as root: root with only CAP_SYS_PTRACE is enough."""
    with containers() as c:
        app, sc = run_sidecar(c, None, ["--user", "0:0", "--cap-add", "SYS_PTRACE"])
        expect_right(app, sc)


def case_sidecar_root_nocaps():
    """App as root: root without capabilities is not (the app's caps are not a subset)."""
    with containers() as c:
        app, sc = run_sidecar(c, None, ["--user", "0:0"])
        expect_unknown(app, sc)


def case_node_agent():
    """autoprocsd as a node agent: the host's cgroupfs read-only, unprivileged, no capabilities;
    the targets are other containers' cgroup directories."""
    with parent_cgroup(30000) as parent, containers() as c:
        app = c.run(["--network", "none", "--cpus", "0.5"], [BASE] + SPIN)
        nested = c.run(["--network", "none", "--cgroup-parent", "/" + parent], IDLE)
        v2 = engine_cgroup_version() == 2
        cpu = "/host/sys/fs/cgroup" + ("" if v2 else "/cpu")
        app_dir = cpu + "/docker/" + inspect(app, "{{.Id}}")
        nested_dir = cpu + "/" + parent + "/" + inspect(nested, "{{.Id}}")
        agent = c.run(["--network", "none", "--read-only", "--cap-drop", "ALL",
                       "-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro"],
                      [IMAGE, "--listen", "127.0.0.1:9464", "--interval", "1s",
                       "--target", "cgroup:" + app_dir, "--target", "cgroup:" + nested_dir])
        t_app, t_nested = "cgroup:" + app_dir, "cgroup:" + nested_dir
        ok = wait_for(lambda: (lambda ms: metric(ms, "autoprocs_target_up", t_app) == 1 and
                               metric(ms, "autoprocs_target_up", t_nested) == 1)(metrics(agent)),
                      "both targets up", timeout=30)
        if not check(ok, "the agent serves both containers"):
            print(logs(agent))
            return
        ms = metrics(agent)
        check(metric(ms, "autoprocs_cpu_limit_cores", t_app) == 0.5, "app limit 0.5 (got %s)" %
              metric(ms, "autoprocs_cpu_limit_cores", t_app))
        check(metric(ms, "autoprocs_cpu_limit_cores", t_nested) == 0.3,
              "nested container: the parent's 0.3 binds (got %s)" % metric(ms, "autoprocs_cpu_limit_cores", t_nested))
        e = limit_of(agent, t_nested) or {}
        check((e.get("limit") or {}).get("cgroup") == "/" + parent, "/v1/limits names the parent: %s" % e)
        check_counters(agent, t_app, app)
        # Read-only for the agent, whatever docker does with the submounts of a ro bind.
        p = dk("exec", agent, "sh", "-c", "echo 100000 > %s/cpu.%s" % (
            app_dir, "max" if v2 else "cfs_quota_us"), ok=False)
        check(p.returncode != 0, "the agent cannot write the app's limit (%s)" % p.stderr.strip())
        check(inspect(app, "{{.HostConfig.NanoCpus}}") == "500000000", "the app's limit is unchanged")


def series(ms, name, target_prefix):
    """{container_id: (value, labels)} of metric @name whose target starts with @target_prefix
    (a discovery target's containers carry target=<the discovery target> and container_id)."""
    out = {}
    for (n, labels), v in ms.items():
        d = dict(labels)
        if n == name and d.get("target", "").startswith(target_prefix):
            out[d.get("container_id", d.get("target"))] = (v, d)
    return out


def cmetric(ms, name, target, container_id):
    """The value of @name for the container @container_id of discovery target @target."""
    for (n, labels), v in ms.items():
        if n == name and ("target", target) in labels and ("container_id", container_id) in labels:
            return v
    return None


def case_node_agent_discovery():
    """The node agent's discovery (--target cgroup-tree:PATH, and kubepods:DIR on this plain
    docker host) over the host's cgroupfs, read-only: every container found and named by its id,
    a new one added and a removed one dropped while it runs, a parent's quota binding."""
    with parent_cgroup(30000) as parent, containers() as c:
        v2 = engine_cgroup_version() == 2
        cpu = "/host/sys/fs/cgroup" + ("" if v2 else "/cpu")
        app = c.run(["--network", "none", "--cpus", "0.5"], [BASE] + SPIN)
        nested = c.run(["--network", "none", "--cgroup-parent", "/" + parent], IDLE)
        app_id, nested_id = inspect(app, "{{.Id}}"), inspect(nested, "{{.Id}}")
        tree = "cgroup-tree:" + cpu + "/docker"
        ptree = "cgroup-tree:" + cpu + "/" + parent
        agent = c.run(["--network", "none", "--read-only", "--cap-drop", "ALL",
                       "-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro"],
                      [IMAGE, "--listen", "127.0.0.1:9464", "--interval", "1s", "--target", tree,
                       "--target", ptree])
        ok = wait_for(lambda: (lambda ms: cmetric(ms, "autoprocs_cpu_limit_cores", tree, app_id) is not None and
                               cmetric(ms, "autoprocs_target_up", ptree, nested_id) == 1)(metrics(agent)),
                      "both containers discovered", timeout=40)
        if not check(ok, "the agent discovers both containers"):
            print(logs(agent))
            return
        ms = metrics(agent)
        check(cmetric(ms, "autoprocs_cpu_limit_cores", tree, app_id) == 0.5, "app: 0.5 (got %s)" %
              cmetric(ms, "autoprocs_cpu_limit_cores", tree, app_id))
        labels = series(ms, "autoprocs_cpu_limit_cores", tree).get(app_id, (0, {}))[1]
        check(labels.get("target") == tree and len(app_id) == 64,
              "the series carries target=<the discovery target> and the full 64-digit id: %s" % labels)
        check(cmetric(ms, "autoprocs_cpu_limit_cores", ptree, nested_id) == 0.3,
              "nested: the parent's 0.3 binds (got %s)" % cmetric(ms, "autoprocs_cpu_limit_cores", ptree, nested_id))
        # Live: a container started now appears, one removed disappears.
        new = c.run(["--network", "none", "--cpus", "1.5"], IDLE)
        new_id = inspect(new, "{{.Id}}")
        got = wait_for(lambda: cmetric(metrics(agent), "autoprocs_cpu_limit_cores", tree, new_id) == 1.5,
                       "the new container", timeout=20)
        check(got, "a container started later is found (1.5)")
        dk("rm", "-f", new)
        gone = wait_for(lambda: cmetric(metrics(agent), "autoprocs_target_up", tree, new_id) is None,
                        "the removed container to go", timeout=20)
        check(gone, "a removed container is dropped")
        # kubepods:DIR on a plain docker host: what it finds is reported, whatever it is.
        kp = c.run(["--network", "none", "--read-only", "--cap-drop", "ALL",
                    "-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro"],
                   [IMAGE, "--listen", "127.0.0.1:9464", "--interval", "1s", "--target",
                    "kubepods:/host/sys/fs/cgroup"])
        up = wait_for(lambda: http_get(kp, "/readyz")[0] == 200, "kubepods agent ready", timeout=30)
        found = series(metrics(kp), "autoprocs_cpu_limit_cores", "kubepods")
        print("# kubepods:/host/sys/fs/cgroup on plain docker: %s" % sorted(found))
        check(up, "kubepods:DIR agent is ready on a host without kubepods")
        check(app_id not in found or found[app_id][0] == 0.5,
              "kubepods:DIR: any docker container it lists is right")


def case_docker_update():
    """`docker update --cpus` on the app: the sidecar follows within a few intervals."""
    with containers() as c:
        app, sc = run_sidecar(c, "65532:65532", ["--user", "65532:65532"])
        if not check(sidecar_ready(app), "sidecar serves comm:sh"):
            print(logs(sc))
            return
        for new in ("1.5", "0.75"):
            t0 = time.monotonic()
            dk("update", "--cpus", new, app)
            got = wait_for(lambda: metric(metrics(app), "autoprocs_cpu_limit_cores", "comm:sh") == float(new),
                           "limit %s" % new, timeout=10)
            check(got, "limit follows docker update --cpus %s in %.1f s" % (new, time.monotonic() - t0))
        check("limit-changed" in logs(sc) or "comm:sh: limit 0.75" in logs(sc),
              "the sidecar logs the change")


def case_docker_stop():
    with containers() as c:
        d = c.run(["--network", "none"], [IMAGE])
        wait_for(lambda: http_get(d, "/healthz")[0] == 200, "/healthz", timeout=30)
        t0, w0 = time.monotonic(), time.time()
        dk("stop", "-t", "10", d)
        took = time.monotonic() - t0
        # The engine's timestamp of the exit: how much of it was the daemon's own shutdown.
        fin = inspect(d, "{{.State.FinishedAt}}")
        m = re.match(r"(\d+-\d+-\d+T\d+:\d+:\d+)(\.\d+)?Z$", fin)
        if m:
            t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)
            print("# the container exited %.2f s after docker stop began" % (t - w0))
        check(took < 2.0, "docker stop took %.2f s (< 2 s)" % took)
        check(inspect(d, "{{.State.ExitCode}}") == "0", "exit code 0 after SIGTERM")


def case_healthcheck():
    cfg = json.loads(inspect(IMAGE, "{{json .Config.Healthcheck}}"))
    check(cfg and cfg.get("Test"), "the image has a HEALTHCHECK: %s" % cfg)
    with containers() as c:
        # The image's command, checked every second instead of every 30 s.
        good = c.run(["--network", "none", "--health-interval", "1s"], [IMAGE])
        bad = c.run(["--network", "none", "--health-interval", "1s", "--health-retries", "2"],
                    [IMAGE, "--listen", "127.0.0.1:9999"])
        st = wait_for(lambda: inspect(good, "{{.State.Health.Status}}") == "healthy", "healthy", 40)
        check(st, "healthy with the image's defaults (%s)" % inspect(good, "{{.State.Health.Status}}"))
        st = wait_for(lambda: inspect(bad, "{{.State.Health.Status}}") == "unhealthy", "unhealthy", 40)
        check(st, "unhealthy when /healthz does not answer on 9464 (%s)" % inspect(bad, "{{.State.Health.Status}}"))


def manifest_args(path):
    """The autoprocsd container's args of a kustomize overlay (plain YAML list items)."""
    out, on = [], False
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s == "args:":
                on = True
                continue
            if on and s.startswith("- "):
                out.append(s[2:])
            elif on:
                break
    return out


def case_listen_manifests():
    """The image with the shipped manifests' arguments starts and serves (the image's default
    listen and the manifests' never collide); a repeated --listen is refused at once."""
    src = os.environ.get("AP_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    with containers() as c:
        for overlay, f in (("sidecar", "deployment.yaml"), ("daemonset", "daemonset.yaml")):
            args = manifest_args(os.path.join(src, "deploy/kubernetes/overlays", overlay, f))
            check(args, "overlays/%s has args %s" % (overlay, args))
            # The sidecar's --publish directory is an emptyDir in the pod: a tmpfs here.
            d = c.run(["--network", "none", "--read-only", "--tmpfs", "/autoprocs:mode=1777"], [IMAGE] + args)
            up = wait_for(lambda: http_get(d, "/healthz")[0] == 200, "/healthz", timeout=30)
            if not check(up, "overlays/%s args: serving on :9464" % overlay):
                print(logs(d))
        p = dk("run", "--rm", "--network", "none", "--label", "autoprocs-test=1", IMAGE,
               "--listen", "[::]:9464", "--listen", "[::]:9464", ok=False, timeout=60)
        check(p.returncode == 2 and "given twice" in p.stderr,
              "a repeated --listen: exit 2 and one line (%d, %s)" % (p.returncode, p.stderr.strip()))


SECCOMP_NO_INET6 = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                  "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]}],
}


def case_no_ipv6():
    """A node without IPv6: socket(AF_INET6) fails with EAFNOSUPPORT as with ipv6.disable=1 (a
    seccomp filter gives that answer), or IPv6 is switched off by sysctl.  The image's default
    listen must still serve."""
    with tempfile.NamedTemporaryFile("w", prefix="autoprocs-test-seccomp-", suffix=".json") as prof, \
            containers() as c:
        json.dump(SECCOMP_NO_INET6, prof)
        prof.flush()
        nov6 = c.run(["--network", "none", "--security-opt", "seccomp=" + prof.name], [IMAGE])
        sysctl = c.run(["--network", "none", "--sysctl", "net.ipv6.conf.all.disable_ipv6=1"], [IMAGE])
        for d, what in ((nov6, "no AF_INET6 (EAFNOSUPPORT)"), (sysctl, "disable_ipv6=1")):
            up = wait_for(lambda: http_get(d, "/healthz")[0] == 200, "/healthz", timeout=30)
            if not check(up, "%s: serving on 127.0.0.1:9464" % what):
                print(logs(d))
        text = logs(nov6)
        check("0.0.0.0:9464" in text, "the fallback to 0.0.0.0 is logged: %s" % text.strip()[-300:])


def case_image():
    """What the image holds: the CLI runs (its libraries are there), the user, and a build
    context without .git or build directories."""
    p = dk("run", "--rm", "--network", "none", "--label", "autoprocs-test=1", "--entrypoint",
           "autoprocs", IMAGE, "--help", ok=False)
    check(p.returncode == 0, "autoprocs runs in the image (%s)" % p.stderr.strip()[-200:])
    check(inspect(IMAGE, "{{.Config.User}}") == "65532:65532", "user 65532:65532")
    p = dk("run", "--rm", "--network", "none", "--label", "autoprocs-test=1", IMAGE.replace(
        "autoprocsd:", "autoprocsd-build:"), "sh", "-c",
        "ls -a /src; test ! -e /src/.git && ! ls -d /src/build* >/dev/null 2>&1", ok=False)
    check(p.returncode == 0, "build context without .git and build*/: %s" % " ".join(p.stdout.split()))


CASES = {
    "detect-cpus-0.5": case_detect_cpus_05,
    "detect-cpus-1.5": case_detect_cpus_15,
    "detect-cpuset-0-cpus-2.5": case_detect_cpuset_25,
    "detect-cgroupns-private": case_detect_cgroupns_private,
    "detect-cgroupns-host": case_detect_cgroupns_host,
    "detect-cgroup-parent": case_detect_cgroup_parent,
    "sidecar-same-user": case_sidecar_same_user,
    "sidecar-other-user": case_sidecar_other_user,
    "sidecar-root-ptrace": case_sidecar_root_ptrace,
    "sidecar-root-nocaps": case_sidecar_root_nocaps,
    "node-agent": case_node_agent,
    "node-agent-discovery": case_node_agent_discovery,
    "docker-update": case_docker_update,
    "docker-stop": case_docker_stop,
    "healthcheck": case_healthcheck,
    "listen-manifests": case_listen_manifests,
    "no-ipv6": case_no_ipv6,
    "image": case_image,
}


def main():
    global CASE, CLI
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        print("usage: test-container.py CASE AUTOPROCS_CLI; cases: " + " ".join(CASES), file=sys.stderr)
        return 2
    CASE, CLI = sys.argv[1], sys.argv[2]
    if not (DOCKER and HOST and IMAGE and BASE):
        print("# SKIP: no container engine: run the suite through tests/container/run.sh")
        return SKIP
    try:
        CASES[CASE]()
    except Exception as e:  # a docker command failed: the case fails with its message
        check(False, "%s: %s" % (type(e).__name__, e))
    print("%s: %s" % (CASE, "FAIL (%d)" % len(FAILS) if FAILS else "ok"))
    return 1 if FAILS else 0


CASE = None
if __name__ == "__main__":
    sys.exit(main())
