#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""autoprocsd as a node agent: --target kubepods[:DIR], cgroup-tree:PATH, --pod-logs, scraped over
real HTTP (standard library only; the Daemon helper of test-daemon.py).

Usage: test-daemon-nodeagent.py GROUP AUTOPROCSD SOURCE_ROOT
GROUP: fixtures | churn | dashboard
  fixtures   generated cgroupfs trees (v2 + systemd driver, v1 + cgroupfs driver with cpu and
             cpuacct apart, hybrid): Guaranteed/Burstable/BestEffort pods, a sandbox, names with
             systemd escapes and a mount point with a space, a pod whose containers come and go,
             names from a kubelet log tree, docker and podman under cgroup-tree:PATH
  churn      real v1 cgroups (autoprocs-test-* parent, always removed) in the kubelet's layout:
             a child process makes one container and removes one per step (AUTOPROCS_CHURN_RATE steps/s,
             default 20, over AUTOPROCS_CHURN_BASE containers, default 50, for
             AUTOPROCS_CHURN_SECONDS, default 6, at AUTOPROCS_CHURN_INTERVAL s, default 0.5) while
             this one scrapes: every container present within one interval, removed ones gone
             within two, counters never going back, the fd count back at the end; the benchmark
             (tests/bench/daemon/nodeagent.sh) runs it at 1,000 / 50 per s / 60 s
  dashboard  deploy/grafana/autoprocs-node-agent.json: valid JSON, every metric its queries use
             is in the daemon's real output (a fixture node scraped), recording rules too
Exit 0 pass, 1 fail, 77 skip.
"""
import gzip
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("ap_test_daemon", os.path.join(HERE, "test-daemon.py"))
td = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(td)
check, sample, wait_for, Daemon = td.check, td.sample, td.wait_for, td.Daemon

ID = [("%02x" % i) * 32 for i in range(1, 40)]
UID = ["%08x-1111-2222-3333-%012x" % (i, i) for i in range(1, 20)]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class Tree:
    """A cgroupfs fixture: v2, v1 (cpu and cpuacct apart, cpuset) or hybrid (v1 + unified)."""

    def __init__(self, root, version, driver):
        self.root, self.version, self.driver = root, version, driver
        if version == 2:
            write(f"{root}/cgroup.controllers", "cpuset cpu io memory pids\n")
            self._files(root, "", None, top=True)
        else:
            for h in ("cpu", "cpuacct", "cpuset"):
                write(f"{root}/{h}/cgroup.procs", "")
            self._files(root, "", None, top=True)
            if version == "hybrid":
                write(f"{root}/unified/cgroup.controllers", "")

    def dirs(self, rel):
        if self.version == 2:
            return [f"{self.root}/{rel}"]
        d = [f"{self.root}/{h}/{rel}" for h in ("cpu", "cpuacct", "cpuset")]
        if self.version == "hybrid":
            d.append(f"{self.root}/unified/{rel}")
        return d

    def _files(self, root, rel, quota, top=False, weight=None, usage=0, throttled=(0, 0, 0)):
        periods, nthr, tus = throttled
        if self.version == 2:
            d = f"{root}/{rel}" if rel else root
            write(f"{d}/cgroup.procs", "")
            if not top:
                write(f"{d}/cpu.max", f"{quota} 100000\n" if quota else "max 100000\n")
                write(f"{d}/cpu.weight", f"{weight or 100}\n")
            write(f"{d}/cpu.stat", f"usage_usec {usage}\nuser_usec {usage}\nsystem_usec 0\n"
                  f"nr_periods {periods}\nnr_throttled {nthr}\nthrottled_usec {tus}\n")
            write(f"{d}/cpu.pressure", f"some avg10=0.00 avg60=0.00 avg300=0.00 total={usage // 10}\n"
                  f"full avg10=0.00 avg60=0.00 avg300=0.00 total={usage // 20}\n")
            write(f"{d}/cpuset.cpus.effective", "0-3\n")
            return
        c = f"{root}/cpu/{rel}" if rel else f"{root}/cpu"
        write(f"{c}/cgroup.procs", "")
        write(f"{c}/cpu.cfs_quota_us", f"{quota}\n" if quota else "-1\n")
        write(f"{c}/cpu.cfs_period_us", "100000\n")
        write(f"{c}/cpu.shares", f"{weight or 1024}\n")
        write(f"{c}/cpu.stat", f"nr_periods {periods}\nnr_throttled {nthr}\nthrottled_time {tus * 1000}\n")
        a = f"{root}/cpuacct/{rel}" if rel else f"{root}/cpuacct"
        write(f"{a}/cgroup.procs", "")
        write(f"{a}/cpuacct.usage", f"{usage * 1000}\n")
        s = f"{root}/cpuset/{rel}" if rel else f"{root}/cpuset"
        write(f"{s}/cgroup.procs", "")
        write(f"{s}/cpuset.cpus", "0-1\n")
        write(f"{s}/cpuset.effective_cpus", "0-1\n")
        if self.version == "hybrid":
            u = f"{root}/unified/{rel}" if rel else f"{root}/unified"
            write(f"{u}/cgroup.procs", "")
            write(f"{u}/cpu.pressure", f"some avg10=0.00 avg60=0.00 avg300=0.00 total={usage // 10}\n")

    def kubepods(self):
        return "kubepods.slice" if self.driver == "systemd" else "kubepods"

    def qos_dir(self, qos):
        if qos == "guaranteed":
            return self.kubepods()
        if self.driver == "systemd":
            return f"kubepods.slice/kubepods-{qos}.slice"
        return f"kubepods/{qos}"

    def pod_dir(self, qos, uid, escaped=False):
        if self.driver == "systemd":
            u = uid.replace("-", "_")
            if escaped:
                u = uid.replace("-", "\\x2d", 1).replace("-", "_")
            name = f"kubepods-pod{u}.slice" if qos == "guaranteed" else f"kubepods-{qos}-pod{u}.slice"
        else:
            name = f"pod{uid}"
        return f"{self.qos_dir(qos)}/{name}"

    def ctr_name(self, cid, runtime="containerd"):
        if self.driver != "systemd":
            return cid
        return {"containerd": f"cri-containerd-{cid}.scope", "crio": f"crio-{cid}.scope",
                "docker": f"docker-{cid}.scope"}[runtime]

    def mkdir(self, rel, **kw):
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if not os.path.exists(self.dirs(sub)[0]):
                self._files(self.root, sub, kw.get("quota") if i == len(parts) else None,
                            **({k: v for k, v in kw.items() if k != "quota"} if i == len(parts) else {}))

    def rmdir(self, rel):
        for d in self.dirs(rel):
            shutil.rmtree(d, ignore_errors=True)


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def series_of(text, name):
    out = []
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            labels = {k: unescape(v) for k, v in
                      re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or "")}
            out.append((labels, float(m.group(4))))
    return out


def containers(text):
    """container_id -> labels of autoprocs_container_info."""
    return {l["container_id"]: l for l, _ in series_of(text, "autoprocs_container_info")}


def promtool_ok(text, what):
    tool = td.promtool()
    if not tool:
        print("# promtool not found: format check skipped")
        return
    import subprocess
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True)
    out = (p.stdout + p.stderr).decode()
    check(p.returncode == 0 and not out.strip(), f"{what}: promtool check metrics is clean ({out.strip()[:300]})")


# ------------------------------------------------------------------------------------------------
def scenario(tmp, version, driver):
    what = f"v{version} {driver}"
    root = os.path.join(tmp, f"cg {version} {driver}")  # a mount point with a space
    logs = os.path.join(tmp, f"logs-{version}-{driver}")
    t = Tree(root, version, driver)
    os.makedirs(f"{logs}/pods")
    os.makedirs(f"{logs}/containers")
    # Guaranteed pod: one app container (limited at the container), one sandbox
    g_pod = t.pod_dir("guaranteed", UID[0])
    t.mkdir(g_pod, quota=100000)
    t.mkdir(f"{g_pod}/{t.ctr_name(ID[0])}", quota=100000, usage=2000000, throttled=(100, 25, 500000))
    t.mkdir(f"{g_pod}/{t.ctr_name(ID[1])}", weight=1 if version == 2 else 2)
    # Burstable pod (escaped name on systemd): the pod's limit binds (150m < container's 300m)
    b_pod = t.pod_dir("burstable", UID[1], escaped=True)
    t.mkdir(b_pod, quota=15000, throttled=(40, 30, 900000))
    t.mkdir(f"{b_pod}/{t.ctr_name(ID[2], 'crio' if driver == 'systemd' else 'containerd')}", quota=30000,
            usage=700000)
    # BestEffort pod, no names in the log tree
    e_pod = t.pod_dir("besteffort", UID[2])
    t.mkdir(e_pod)
    t.mkdir(f"{e_pod}/{t.ctr_name(ID[3])}", usage=5000)
    # a conmon scope is no container
    if driver == "systemd":
        t.mkdir(f"{b_pod}/crio-conmon-{ID[4]}.scope")
    # the log tree
    os.makedirs(f"{logs}/pods/shop_web-0_{UID[0]}/nginx")
    os.symlink(f"/var/log/pods/shop_web-0_{UID[0]}/nginx/0.log", f"{logs}/containers/web-0_shop_nginx-{ID[0]}.log")
    os.makedirs(f"{logs}/pods/kube-system_dns_{UID[1]}/coredns")
    os.symlink("/nowhere/0.log", f"{logs}/containers/dns_kube-system_coredns-{ID[2]}.log")

    label = f"kubepods:{root}"
    d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms", "--target", label,
                "--pod-logs", logs, "--log-level", "debug"])
    try:
        check(d.wait_ready(), f"{what}: ready")
        text = wait_for(lambda: (lambda m: m if len(containers(m)) >= 3 else None)(d.metrics()), timeout=10) or \
            d.metrics()
        cs = containers(text)
        check(set(cs) == {ID[0], ID[2], ID[3]},
              f"{what}: the three app containers, not the sandbox nor conmon (got {sorted(k[:4] for k in cs)})")
        g = cs.get(ID[0], {})
        check(g.get("cgroup_version") == str(1 if version == "hybrid" else version), f"{what}: cgroup_version")
        check(g.get("pod_uid") == UID[0] and g.get("qos_class") == "guaranteed" and
              g.get("namespace") == "shop" and g.get("pod") == "web-0" and g.get("container") == "nginx" and
              g.get("container_id_short") == ID[0][:12] and g.get("target") == label,
              f"{what}: guaranteed container's labels ({g})")
        b = cs.get(ID[2], {})
        check(b.get("pod_uid") == UID[1] and b.get("qos_class") == "burstable" and
              b.get("namespace") == "kube-system" and b.get("pod") == "dns" and b.get("container") == "coredns",
              f"{what}: burstable container (escaped pod name) labels ({b})")
        check(b.get("limit_cgroup", "").endswith(b_pod.split("/")[-1]) and
              b.get("throttling_cgroup") == b.get("limit_cgroup") and
              b.get("usage_cgroup", "").endswith(t.ctr_name(ID[2], 'crio' if driver == 'systemd' else 'containerd')),
              f"{what}: the pod's limit binds, usage is the container's own ({b})")
        e = cs.get(ID[3], {})
        check(e.get("qos_class") == "besteffort" and "namespace" not in e and "limit_cgroup" not in e,
              f"{what}: besteffort container without names nor limit ({e})")
        tgt = {"container_id": ID[0]}
        check(sample(text, "autoprocs_cpu_limit_cores", tgt) == 1.0, f"{what}: guaranteed limit 1 core")
        check(sample(text, "autoprocs_recommended_procs", tgt) == 2.0, f"{what}: recommended 2 (go125)")
        check(sample(text, "autoprocs_cpu_throttled_periods_total", tgt) == 25, f"{what}: throttled periods")
        check(sample(text, "autoprocs_cpu_periods_total", tgt) == 100, f"{what}: periods")
        check(sample(text, "autoprocs_cpu_throttled_seconds_total", tgt) == 0.5, f"{what}: throttled seconds")
        check(sample(text, "autoprocs_cpu_usage_seconds_total", tgt) == 2.0, f"{what}: usage")
        check(sample(text, "autoprocs_cpu_limit_cores", {"container_id": ID[2]}) == 0.15,
              f"{what}: burstable limit is the pod's 0.15")
        check(sample(text, "autoprocs_cpu_throttled_periods_total", {"container_id": ID[2]}) == 30,
              f"{what}: burstable throttling is the binding pod's")
        if version != 1:
            check(sample(text, "autoprocs_pressure_cpu_waiting_seconds_total", tgt) == 0.2, f"{what}: PSI some")
        else:
            check(sample(text, "autoprocs_pressure_cpu_waiting_seconds_total", tgt) is None, f"{what}: no PSI on v1")
        check(sample(text, "autoprocs_affinity_cpus", tgt) == (4 if version == 2 else 2), f"{what}: cpuset")
        check(sample(text, "autoprocs_discovery_containers", {"target": label}) == 3, f"{what}: 3 followed")
        check(sample(text, "autoprocs_target_up", {"target": label}) == 1, f"{what}: discovery target up")
        promtool_ok(text, what)
        # gzip when asked (Prometheus does), the same text inside
        r, body = d.get("/metrics", {"Accept-Encoding": "gzip"})
        plain = gzip.decompress(body).decode() if r.getheader("Content-Encoding") == "gzip" else ""
        check(r.getheader("Content-Encoding") == "gzip" and "Accept-Encoding" in (r.getheader("Vary") or "") and
              set(containers(plain)) == set(cs), f"{what}: gzip-encoded /metrics when asked")
        r, body = d.get("/metrics", {"Accept-Encoding": "gzip;q=0, identity"})
        check(r.getheader("Content-Encoding") is None and body.startswith(b"# HELP"),
              f"{what}: plain text when gzip is refused")
        om = d.metrics({"Accept": "application/openmetrics-text; version=1.0.0"})
        check("# TYPE autoprocs_container info" in om and om.endswith("# EOF\n"), f"{what}: OpenMetrics info family")

        # /v1/limits
        r, body = d.get("/v1/limits")
        try:
            lim = json.loads(body)
        except ValueError:
            lim = []
        byid = {o.get("container_id"): o for o in lim if isinstance(o, dict)}
        check(r.status == 200 and (byid.get(ID[0]) or {}).get("limit", {}).get("cpus") == 1 and
              (byid.get(ID[0]) or {}).get("pod") == "web-0", f"{what}: /v1/limits has the containers")

        # an in-place resize of the container (the kubelet rewrites its quota): seen at a tick
        cdir = t.dirs(f"{g_pod}/{t.ctr_name(ID[0])}")[0]
        if version == 2:
            write(f"{cdir}/cpu.max", "50000 100000\n")
        else:
            write(f"{cdir}/cpu.cfs_quota_us", "50000\n")
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_cpu_limit_cores", tgt) == 0.5, timeout=5),
              f"{what}: an in-place resize (1 -> 0.5 CPU) is seen")

        # containers come and go
        new = f"{b_pod}/{t.ctr_name(ID[5])}"
        t.mkdir(new, usage=1000)
        check(wait_for(lambda: ID[5] in containers(d.metrics()), timeout=5), f"{what}: a new container appears")
        t.rmdir(f"{g_pod}/{t.ctr_name(ID[0])}")
        check(wait_for(lambda: ID[0] not in containers(d.metrics()), timeout=5), f"{what}: a removed one goes")
        check(sample(d.metrics(), "autoprocs_cpu_usage_seconds_total", tgt) is None,
              f"{what}: and its series with it")
        # made again (same id): its counters continue from where they were
        t.mkdir(f"{g_pod}/{t.ctr_name(ID[0])}", quota=100000, usage=1000000, throttled=(10, 1, 1000))
        check(wait_for(lambda: ID[0] in containers(d.metrics()), timeout=5), f"{what}: made again")
        # (the fixture's files are written after its mkdir: wait for a read of them)
        m = wait_for(lambda: (lambda x: x if (sample(x, "autoprocs_cpu_usage_seconds_total", tgt) or 0) > 2.0
                              else None)(d.metrics()), timeout=5) or d.metrics()
        check((sample(m, "autoprocs_cpu_usage_seconds_total", tgt) or 0) == 3.0 and
              (sample(m, "autoprocs_cpu_throttled_periods_total", tgt) or 0) >= 26,
              f"{what}: counters of the recreated cgroup did not go back "
              f"(usage {sample(m, 'autoprocs_cpu_usage_seconds_total', tgt)})")
        # a whole pod goes
        t.rmdir(e_pod)
        check(wait_for(lambda: ID[3] not in containers(d.metrics()), timeout=5), f"{what}: a removed pod goes")
        # a new pod with its container at once
        p_new = t.pod_dir("burstable", UID[3])
        t.mkdir(f"{p_new}/{t.ctr_name(ID[6])}")
        check(wait_for(lambda: ID[6] in containers(d.metrics()), timeout=5), f"{what}: a new pod's container")
    finally:
        d.stop()


def group_fixtures():
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-nodeagent-")
    try:
        for version, driver in ((2, "systemd"), (1, "cgroupfs"), ("hybrid", "systemd"), (2, "cgroupfs"),
                                (1, "systemd")):
            scenario(tmp, version, driver)
        tree_scenario(tmp)
        bad_specs()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def tree_scenario(tmp):
    """cgroup-tree:PATH on a v2 host with docker and podman containers."""
    root = os.path.join(tmp, "docker-host")
    t = Tree(root, 2, "systemd")
    t.mkdir(f"system.slice/docker-{ID[10]}.scope", quota=50000, usage=300)
    t.mkdir(f"machine.slice/libpod-{ID[11]}.scope", usage=400)
    t.mkdir(f"machine.slice/libpod-conmon-{ID[12]}.scope")
    t.mkdir("system.slice/cron.service")
    d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms", "--target", f"cgroup-tree:{root}/system.slice",
                "--target", f"cgroup-tree:{root}/machine.slice"])
    try:
        check(d.wait_ready(), "cgroup-tree: ready")
        m = wait_for(lambda: (lambda x: x if len(containers(x)) >= 2 else None)(d.metrics()), timeout=10) or d.metrics()
        cs = containers(m)
        check(set(cs) == {ID[10], ID[11]}, f"cgroup-tree: docker and podman containers ({sorted(cs)})")
        check(cs.get(ID[10], {}).get("runtime") == "docker" and cs.get(ID[11], {}).get("runtime") == "podman" and
              "pod_uid" not in cs.get(ID[10], {}), "cgroup-tree: runtimes, no pod labels")
        check(sample(m, "autoprocs_cpu_limit_cores", {"container_id": ID[10]}) == 0.5, "cgroup-tree: docker limit")
        t.mkdir(f"system.slice/docker-{ID[13]}.scope")
        check(wait_for(lambda: ID[13] in containers(d.metrics()), timeout=5), "cgroup-tree: new docker container")
    finally:
        d.stop()
    # not a cgroup: reported, retried, the daemon keeps running
    d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms", "--target", f"kubepods:{tmp}/nothing"])
    try:
        check(d.wait_ready(), "kubepods on a missing DIR: ready anyway")
        check(d.wait_log(r"kubepods:\S+: \S+: no cgroup hierarchy"), "kubepods on a missing DIR: one clear line")
        check(sample(d.metrics(), "autoprocs_target_up", {"target": f"kubepods:{tmp}/nothing"}) == 0,
              "kubepods on a missing DIR: target down")
        later = Tree(f"{tmp}/nothing", 2, "systemd")
        later.mkdir(f"{later.pod_dir('burstable', UID[5])}/{later.ctr_name(ID[20])}")
        check(wait_for(lambda: ID[20] in containers(d.metrics()), timeout=5),
              "kubepods: a cgroupfs that appears later is found")
    finally:
        d.stop()


def bad_specs():
    for spec, why in (("kubepods:relative", "absolute"), ("cgroup-tree:x", "absolute"), ("kubepod", "unknown")):
        r = td.run_bad(["--target", spec], what=f"--target {spec}")
    r = td.run_bad(["--target", "kubepods", "--pod-logs", "rel"], what="--pod-logs rel")


# ------------------------------------------------------------------------------------------------
def v1_cpu_mounts():
    """(cpu top, cpuacct top) of the host's v1 hierarchies, or None."""
    cpu = acct = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] != "cgroup" or fields[3] != "/":
                continue
            opts = fields[sep + 3].split(",")
            if "cpu" in opts:
                cpu = fields[4]
            if "cpuacct" in opts:
                acct = fields[4]
    return (cpu, acct) if cpu and acct else None


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


INFO_ID = re.compile(r'^autoprocs_container_info\{[^}]*container_id="([0-9a-f]{64})"', re.M)
USAGE_ID = re.compile(r'^autoprocs_cpu_usage_seconds_total\{[^}]*container_id="([0-9a-f]{64})"[^}]*\} (\S+)$', re.M)


def group_churn():
    """Real v1 cgroups made and removed by a child process at AUTOPROCS_CHURN_RATE per second (one
    made and one removed each step; a process of its own, so that parsing scrapes here never slows
    it down) while this process scrapes: at each scrape, every container made before the scrape's
    start minus one interval (and still there) must be in it, every one removed before it minus two
    intervals must not; counters never go back; the fd count comes back."""
    import signal as sig
    if os.geteuid() != 0:
        print("# SKIP: not root (real cgroups)")
        return SKIP
    mounts = v1_cpu_mounts()
    if not mounts:
        print("# SKIP: no cgroup v1 cpu and cpuacct hierarchies here")
        return SKIP
    seconds = float(os.environ.get("AUTOPROCS_CHURN_SECONDS", "6"))
    rate = int(os.environ.get("AUTOPROCS_CHURN_RATE", "20"))
    base = int(os.environ.get("AUTOPROCS_CHURN_BASE", "50"))
    interval = float(os.environ.get("AUTOPROCS_CHURN_INTERVAL", "0.5"))
    # how late past the interval a scrape may see a change (the scrape's own time, the body's age)
    slack = float(os.environ.get("AUTOPROCS_CHURN_SLACK", "0.5"))
    cpu, acct = mounts
    parent = f"autoprocs-test-churn-{os.getpid()}"
    live, made_at, removed_at = {}, {}, {}

    def mk(rel):
        for h in (cpu, acct):
            os.makedirs(f"{h}/{parent}/{rel}", exist_ok=True)

    def rm(rel):
        for h in (acct, cpu):
            try:
                os.rmdir(f"{h}/{parent}/{rel}")
            except FileNotFoundError:
                pass

    def name(n):
        return "kubepods/burstable/pod%08x-0000-0000-0000-%012x" % (n, n), "%064x" % (0xabc000000 + n)

    def churner(w, first, until):
        """The child: one made and one removed per step; reports "m ID POD T" / "r ID T" lines."""
        mine = dict(live)
        born = dict(made_at)
        n, recreated, step = first, 0, 1.0 / rate
        out = os.fdopen(w, "w", buffering=1)
        due = time.time()
        while time.time() < until:
            t0 = time.time()
            due += step  # a schedule, not a sleep per step: late steps catch up
            n += 1
            pod, cid = name(n)
            mk(pod)
            mk(f"{pod}/{cid}")
            mine[cid], born[cid] = pod, time.time()
            out.write(f"m {cid} {pod} {born[cid]}\n")
            victim = next((c for c in mine if t0 - born[c] > 2 * interval + slack), None)
            if victim:
                vpod = mine[victim]
                if recreated < 3:
                    # the same cgroup removed and made again: one container all along
                    rm(f"{vpod}/{victim}")
                    mk(f"{vpod}/{victim}")
                    recreated += 1
                    del mine[victim]
                    mine[victim] = vpod
                    born[victim] = time.time()
                    out.write(f"m {victim} {vpod} {born[victim]}\n")
                else:
                    del mine[victim]
                    out.write(f"r {victim} {time.time()}\n")
                    rm(f"{vpod}/{victim}")
                    rm(vpod)
            time.sleep(max(0, due - time.time()))
        out.close()

    d = None
    child = 0
    try:
        for h in (cpu, acct):
            os.makedirs(f"{h}/{parent}/kubepods/burstable", exist_ok=True)
        for n in range(1, base + 1):
            pod, cid = name(n)
            mk(pod)
            mk(f"{pod}/{cid}")
            live[cid], made_at[cid] = pod, time.time()
        spec = f"cgroup-tree:{cpu}/{parent}/kubepods"
        d = Daemon(["--listen", "127.0.0.1:0", "--interval", f"{int(interval * 1000)}ms", "--target", spec])
        check(d.wait_ready(), "churn: ready")
        check(wait_for(lambda: len(containers(d.metrics())) == base, timeout=20), f"churn: {base} found")
        fds0 = fd_count(d.proc.pid)
        late_in, late_out, backwards, scrapes, made = set(), set(), set(), 0, 0
        last = {}
        rfd, wfd = os.pipe()
        end = time.time() + seconds
        child = os.fork()
        if child == 0:
            os.close(rfd)
            try:
                churner(wfd, base, end)
            finally:
                os._exit(0)
        os.close(wfd)
        os.set_blocking(rfd, False)
        pending = b""

        def drain():
            nonlocal pending, made
            while True:
                try:
                    chunk = os.read(rfd, 65536)
                except BlockingIOError:
                    return True
                if not chunk:
                    return False
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    f = line.decode().split()
                    if f[0] == "m":
                        live[f[1]], made_at[f[1]] = f[2], float(f[3])
                        made += 1
                    else:
                        live.pop(f[1], None)
                        removed_at[f[1]] = float(f[2])
        while True:
            t0 = time.time()
            running = drain()
            r, body = d.get("/metrics", {"Accept-Encoding": "gzip"})
            text = gzip.decompress(body).decode() if r.getheader("Content-Encoding") == "gzip" else body.decode()
            cs = set(INFO_ID.findall(text))
            scrapes += 1
            late_in.update(c for c in live if made_at[c] < t0 - interval - slack and c not in cs)
            late_out.update(c for c, t in removed_at.items() if t < t0 - 2 * interval - slack and c in cs)
            for c, v in USAGE_ID.findall(text):
                if float(v) < last.get(c, 0):
                    backwards.add(c)
                last[c] = float(v)
            if not running:
                break
            time.sleep(max(0, 0.2 - (time.time() - t0)))
        _, status = os.waitpid(child, 0)
        child = 0
        check(status == 0, f"churn: the cgroups were made and removed (child status {status})")
        print(f"# churn: {made} containers made and {len(removed_at)} removed in {seconds:.0f} s "
              f"({made / seconds:.0f}/s), {scrapes} scrapes")
        check(made >= 0.8 * rate * seconds, f"churn: the rate was kept ({made / seconds:.0f}/s of {rate}/s)")
        check(not late_in, f"churn: every container made is present within one interval ({len(late_in)} late)")
        check(not late_out, f"churn: every removed container is gone within two ({len(late_out)} late)")
        check(not backwards, f"churn: no counter went back ({sorted(backwards)[:3]})")
        check(d.proc.poll() is None, "churn: the daemon is alive")
        # back to the base number of containers: the fds come back too
        for c in list(live)[base:]:
            pod = live.pop(c)
            rm(f"{pod}/{c}")
            rm(pod)
        final = wait_for(lambda: (lambda m: m if len(containers(m)) == len(live) else None)(d.metrics()), timeout=10)
        check(final is not None, f"churn: the live set is exact at the end ({len(live)})")
        fds1 = fd_count(d.proc.pid)
        check(fds1 <= fds0 + 16, f"churn: no fd leak ({fds0} -> {fds1} fds with {base} containers)")
    finally:
        if child:
            os.kill(child, sig.SIGKILL)
            os.waitpid(child, 0)
        if d:
            d.stop()
        for h in (cpu, acct):
            if os.path.isdir(f"{h}/{parent}"):
                for dirpath, _, _ in sorted(os.walk(f"{h}/{parent}"), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass
    return 0


# ------------------------------------------------------------------------------------------------
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "sum", "rate", "irate",
                "increase", "max", "min", "avg", "count", "topk", "bottomk", "clamp_min", "clamp_max",
                "label_replace", "label_values", "and", "or", "unless", "offset", "bool", "time", "vector",
                "scalar", "abs", "deriv", "delta", "max_over_time", "avg_over_time", "humanizePercentage"}


def metric_names(expr):
    """The metric (and recording rule) names a PromQL expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # strings
    e = re.sub(r"\{[^}]*\}", "", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges ($__rate_interval)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"label_values\(([^,)]+)(,[^)]*)?\)", r"\1", e)
    names = set(re.findall(r"(?<![$\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", e)) - PROMQL_WORDS
    return {n for n in names if not re.fullmatch(r"e\d*", n)}


CONTAINER_RULE_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'autoprocs_cpu_periods_total{target="kubepods",container_id="a",instance="n1"}'
        values: '0+600x40'
      - series: 'autoprocs_cpu_throttled_periods_total{target="kubepods",container_id="a",instance="n1"}'
        values: '0+300x40'
      - series: 'autoprocs_container_info{target="kubepods",container_id="a",instance="n1",limit_scope="pod"}'
        values: '1x40'
      - series: 'autoprocs_cpu_periods_total{target="kubepods",container_id="b",instance="n1"}'
        values: '0+600x40'
      - series: 'autoprocs_cpu_throttled_periods_total{target="kubepods",container_id="b",instance="n1"}'
        values: '0+300x40'
      - series: 'autoprocs_container_info{target="kubepods",container_id="b",instance="n1",limit_scope="container"}'
        values: '1x40'
    promql_expr_test:
      - expr: autoprocs:container_cpu_throttled_periods:ratio_rate5m{container_id="b"}
        eval_time: 20m
        exp_samples:
          - labels: '{__name__="autoprocs:container_cpu_throttled_periods:ratio_rate5m",target="kubepods",container_id="b",instance="n1"}'
            value: 0.5
    alert_rule_test:
      - eval_time: 25m
        alertname: AutoprocsContainerThrottledByAncestorLimit
        exp_alerts:
          - exp_labels: {severity: warning, target: kubepods, container_id: a, instance: n1}
            exp_annotations:
              summary: "/  is throttled in 50% of the periods of a limit above its own cgroup"
              description: "The binding CPU limit is not the container's own (see autoprocs_container_info limit_cgroup/limit_scope): kube-prometheus's CPUThrottlingHigh reads the container's own cgroup and does not see this throttling.  Raise the pod's limit or lower the processor count of its containers (autoprocs_recommended_procs)."
"""


def group_dashboard():
    """The Grafana dashboard and the container rules against the daemon's real output."""
    import subprocess
    path = os.path.join(td.SRC, "deploy", "grafana", "autoprocs-node-agent.json")
    rules_path = os.path.join(td.SRC, "deploy", "kubernetes", "base", "prometheusrule.yaml")
    with open(path) as f:
        try:
            dash = json.load(f)
        except ValueError as e:
            check(False, f"dashboard is valid JSON ({e})")
            return 0
    check(dash.get("uid") and isinstance(dash.get("panels"), list) and dash["panels"], "dashboard has panels")
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "expr" and isinstance(v, str):
                    exprs.append(v)
                elif k == "query" and isinstance(v, str) and v.startswith("label_values("):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(dash)
    check(len(exprs) >= 10, f"dashboard has queries ({len(exprs)})")
    titles = " ".join(p.get("title", "") for p in dash["panels"]).lower()
    for want in ("throttled ratio", "limit vs recommended", "pressure", "agent cpu", "agent memory"):
        check(want in titles, f"dashboard has a panel on {want}")
    with open(rules_path) as f:
        rule_text = f.read()
    recorded = dict(re.findall(r"- record:\s*(\S+)\n\s*expr:\s*\|?\n?((?:.|\n)*?)(?=\n\s*- (?:record|alert):|\n\s*#|\n    - name:|\Z)",
                               rule_text))
    check("autoprocs:container_cpu_throttled_periods:ratio_rate5m" in recorded, "rules record the throttled ratio")

    # the daemon's real output on a fixture node (self + containers)
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-dash-")
    try:
        t = Tree(f"{tmp}/cg", 2, "systemd")
        t.mkdir(f"{t.pod_dir('burstable', UID[0])}/{t.ctr_name(ID[0])}", quota=50000, usage=10,
                throttled=(10, 5, 100))
        d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms", "--target", "self",
                    "--target", f"kubepods:{tmp}/cg"])
        try:
            d.wait_ready()
            text = wait_for(lambda: (lambda m: m if containers(m) else None)(d.metrics()), timeout=10) or ""
        finally:
            d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    have = {m.group(0) for m in (re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", l) for l in text.splitlines()
                                 if l and not l.startswith("#")) if m}
    check(len(have) > 20, f"the daemon's output has its metrics ({len(have)} names)")
    for name, expr in recorded.items():
        missing = {n for n in metric_names(expr) if n not in have}
        check(not missing, f"rule {name} reads only real metrics (missing {sorted(missing)})")
    for e in exprs:
        missing = {n for n in metric_names(e) if n not in have and n not in recorded}
        check(not missing, f"dashboard query uses only real metrics: {e[:70]} (missing {sorted(missing)})")
    # the container rules evaluate as meant (promtool test rules)
    tool = td.promtool()
    if not tool:
        print("# promtool not found: rule test skipped")
        return 0
    body = rule_text.split("\nspec:\n", 1)[1]
    rules = "\n".join(l[2:] if l.startswith("  ") else l for l in body.splitlines()) + "\n"
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-rules-") as rt:
        with open(os.path.join(rt, "rules.yml"), "w") as f:
            f.write(rules)
        with open(os.path.join(rt, "test.yml"), "w") as f:
            f.write(CONTAINER_RULE_TEST)
        p = subprocess.run([tool, "test", "rules", "test.yml"], cwd=rt, capture_output=True, text=True)
        check(p.returncode == 0, "container rules: the ratio is recorded and the alert fires for a pod-level "
              f"limit only: {p.stdout.strip()[-600:]} {p.stderr.strip()[-300:]}")
    return 0


def main():
    group, td.DAEMON, td.SRC = sys.argv[1], sys.argv[2], sys.argv[3]
    if group != "dashboard" and not os.access(td.DAEMON, os.X_OK):
        print(f"# SKIP: {td.DAEMON} not built")
        return SKIP
    groups = {"fixtures": group_fixtures, "churn": group_churn, "dashboard": group_dashboard}
    try:
        r = groups[group]()
    except Exception:
        traceback.print_exc()
        td.FAILS.append("exception")
        r = 0
    if r == SKIP:
        return SKIP
    print(f"# {len(td.FAILS)} failed: {td.FAILS}" if td.FAILS else "# all passed")
    return 1 if td.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
