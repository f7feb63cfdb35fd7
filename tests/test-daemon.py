#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""autoprocsd over real HTTP, signals, systemd protocols and targets (standard library only).

Usage: test-daemon.py GROUP AUTOPROCSD SOURCE_ROOT
GROUP: http | config | signals | notify | targets | cgroup
Each group starts its own daemons on loopback ephemeral ports (--listen 127.0.0.1:0; the port is
read from the daemon's "serving metrics on" line) and kills them at the end.  Exit 0 pass, 1 fail,
77 skip (meson counts 77 as skipped).
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SKIP = 77
DAEMON = None
SRC = None
FAILS = []


def check(cond, what):
    if cond:
        print(f"ok - {what}")
    else:
        print(f"not ok - {what}")
        FAILS.append(what)
    return cond


class Daemon:
    """One autoprocsd child; stderr goes to a file that the test reads."""

    def __init__(self, args, env=None, shell_prefix=None, pass_fd=None, wait_url=True):
        self.log = tempfile.NamedTemporaryFile(prefix="autoprocs-test-log-", delete=False)
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.pop("LISTEN_FDS", None)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.update(env or {})
        cmd = [DAEMON] + args
        if shell_prefix:
            # "export X=$$; exec autoprocsd ...": $$ is the pid the daemon keeps after exec.
            cmd = ["/bin/sh", "-c", shell_prefix + ' exec "$@"', "sh"] + cmd

        def preexec():
            if pass_fd is not None:
                os.dup2(pass_fd, 3)
                os.set_inheritable(3, True)

        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=full_env,
                                     preexec_fn=preexec if pass_fd is not None else None,
                                     # close_fds runs after preexec_fn: keep the new fd 3 open
                                     pass_fds=(pass_fd, 3) if pass_fd is not None else ())
        self.urls = []
        if wait_url:
            self.wait_log(r"serving metrics on (http://\S+)/metrics")
            self.urls = re.findall(r"serving metrics on (http://\S+)/metrics", self.text())
            self.url = self.urls[0]

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, count=1):
        end = time.time() + timeout
        while time.time() < end:
            if len(re.findall(pattern, self.text())) >= count:
                return True
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited ({self.proc.returncode}): {self.text()}")
            time.sleep(0.02)
        raise RuntimeError(f"timeout waiting for /{pattern}/ in log:\n{self.text()}")

    def hostport(self, url=None):
        m = re.match(r"http://(\[[^\]]+\]|[^:/]+):(\d+)", url or self.url)
        return m.group(1).strip("[]"), int(m.group(2))

    def request(self, method, path, headers=None, url=None):
        host, port = self.hostport(url)
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r, body

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def metrics(self, headers=None):
        r, body = self.get("/metrics", headers)
        return body.decode()

    def wait_ready(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            r, _ = self.get("/readyz")
            if r.status == 200:
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # A clean stop exits 0 (under ASan also: no leak, no error report).
        check(self.proc.returncode == 0,
              f"daemon stopped cleanly (rc={self.proc.returncode})" +
              ("" if self.proc.returncode == 0 else "\n" + self.text()[-4000:]))
        self.log.close()
        os.unlink(self.log.name)
        return self.proc.returncode


def sample(text, name, labels):
    """The value of NAME{labels...} (labels: dict, matched as a subset) or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def wait_for(fn, timeout=20, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def promtool():
    return shutil.which("promtool")


# ------------------------------------------------------------------------------------------------
def group_http():
    d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms"])
    try:
        check(d.wait_ready(), "/readyz becomes 200 after the first probe")
        r, body = d.get("/metrics")
        check(r.status == 200, "GET /metrics 200")
        check(r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8",
              f"0.0.4 content type ({r.getheader('Content-Type')})")
        text = body.decode()
        check(text.endswith("\n"), "exposition ends with a newline")
        for name in ["autoprocs_build_info", "autoprocs_recommended_procs", "autoprocs_affinity_cpus",
                     "autoprocs_runtime_procs", "autoprocs_runtime_tasks", "autoprocs_runtime_threads",
                     "autoprocs_runtime_steals_total", "autoprocs_runtime_handoffs_total",
                     "autoprocs_runtime_hogs_total",
                     "autoprocs_resizes_total", "autoprocs_probe_errors_total",
                     "process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_start_time_seconds"]:
            check(re.search(r"^" + name + r"[{ ]", text, re.M) is not None, f"series {name} present")
        check(sample(text, "autoprocs_runtime_procs", {"target": "self"}) >= 1, "runtime_procs >= 1")
        check(sample(text, "autoprocs_target_up", {"target": "self"}) == 1, "target self up")

        pt = promtool()
        if pt:
            p = subprocess.run([pt, "check", "metrics"], input=body, capture_output=True)
            check(p.returncode == 0 and p.stdout == b"" and p.stderr == b"",
                  f"promtool check metrics: rc={p.returncode} {p.stdout!r} {p.stderr!r}")
        else:
            print("# promtool not found: live lint skipped")

        r, body = d.get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        check(r.getheader("Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8",
              "OpenMetrics content type on request")
        om = body.decode()
        check(om.endswith("# EOF\n") and om.count("# EOF") == 1, "OpenMetrics ends with # EOF")
        check("# TYPE autoprocs_resizes counter\n" in om, "OpenMetrics counter family without _total")
        r, body = d.get("/metrics", {"Accept": "text/plain"})
        check(not body.decode().rstrip().endswith("# EOF"), "text/plain Accept gets 0.0.4")

        r, body = d.get("/healthz")
        check(r.status == 200 and body == b"ok\n", "GET /healthz 200 ok")
        r, body = d.get("/v1/limits")
        check(r.status == 200 and r.getheader("Content-Type") == "application/json", "GET /v1/limits")
        limits = json.loads(body)
        check(isinstance(limits, list) and len(limits) == 1, "one object per target")
        self_obj = limits[0]
        check(self_obj.get("target") == "self" and self_obj.get("runtime_procs", 0) >= 1
              and "procs" in self_obj and "cgroup_version" in self_obj,
              f"/v1/limits self has target, runtime_procs and the detect fields: {self_obj}")

        r, body = d.get("/nope")
        check(r.status == 404, "unknown path 404")
        r, body = d.get("/metrics/extra")
        check(r.status == 404, "path below /metrics 404")
        for method in ["POST", "PUT", "DELETE", "OPTIONS"]:
            r, body = d.request(method, "/metrics")
            check(r.status == 405 and r.getheader("Allow") == "GET, HEAD",
                  f"{method} -> 405 with Allow: GET, HEAD ({r.status}, {r.getheader('Allow')})")
        r, body = d.request("HEAD", "/metrics")
        check(r.status == 200 and body == b"" and int(r.getheader("Content-Length", "0")) > 0,
              "HEAD /metrics: headers, no body")

        # Keep-alive: two requests on one connection, the server keeps it open.
        host, port = d.hostport()
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/healthz")
        r1 = c.getresponse()
        r1.read()
        sock1 = c.sock
        c.request("GET", "/metrics")
        r2 = c.getresponse()
        r2.read()
        check(r1.status == 200 and r2.status == 200 and sock1 is not None and c.sock is sock1
              and (r1.getheader("Connection") or "").lower() != "close",
              "keep-alive: two requests on one connection")
        c.close()
    finally:
        d.stop()

    # Two listeners, IPv4 and IPv6 (when the host has IPv6 loopback).
    has_v6 = socket.has_ipv6
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        has_v6 = False
    if has_v6:
        d = Daemon(["--listen", "127.0.0.1:0", "--listen", "[::1]:0"])
        try:
            d.wait_log(r"serving metrics on", count=2)
            urls = re.findall(r"serving metrics on (http://\S+)/metrics", d.text())
            check(len(urls) == 2 and urls[1].startswith("http://[::1]:"), f"two listeners: {urls}")
            r, _ = d.request("GET", "/healthz", url=urls[1])
            check(r.status == 200, "IPv6 listener serves")
        finally:
            d.stop()
        # [::] is dual-stack: the same socket answers over IPv4.
        d = Daemon(["--listen", "[::]:0"])
        try:
            port = d.hostport()[1]
            r, _ = d.request("GET", "/healthz", url=f"http://127.0.0.1:{port}")
            check(r.status == 200, "[::] listener is dual-stack (IPv4 answered)")
        finally:
            d.stop()
    else:
        print("# no IPv6 loopback: dual listener check skipped")


# ------------------------------------------------------------------------------------------------
def run_bad(args, env=None, what=""):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([DAEMON] + args, capture_output=True, text=True, env=e, timeout=10)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("autoprocsd: "),
          f"refused with exit 2 and one line: {what}: rc={p.returncode} {p.stderr.strip()!r}")
    return p.stderr


def group_config():
    err = run_bad(["--target", "nope"], what="bad target")
    check("--target \"nope\"" in err, "the error names the argument")
    run_bad(["--target", "pid:abc"], what="bad pid")
    run_bad(["--target", "cgroup:relative"], what="relative cgroup")
    run_bad(["--target", "self", "--target", "self"], what="duplicate target")
    run_bad(["--listen", "localhost"], what="listen without port")
    run_bad(["--listen", "127.0.0.1:70000"], what="port out of range")
    run_bad(["--listen", "[::1:9464"], what="broken IPv6")
    run_bad(["--interval", "0"], what="interval 0")
    run_bad(["--interval", "2h"], what="interval too long")
    run_bad(["--policy", "round"], what="bad policy")
    run_bad(["--log-level", "loud"], what="bad log level")
    run_bad(["--publish", "/nonexistent/dir"], what="missing publish dir")
    run_bad(["--bogus"], what="unknown option")
    run_bad(["extra"], what="extra argument")
    err = run_bad([], env={"AUTOPROCSD_INTERVAL": "soon"}, what="bad AUTOPROCSD_INTERVAL")
    check("AUTOPROCSD_INTERVAL" in err, "the error names the variable")
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        cf = os.path.join(tmp, "autoprocsd.conf")
        with open(cf, "w") as f:
            f.write("# comment\ninterval = 1s\ncolour = blue\n")
        err = run_bad(["--config", cf], what="unknown key in config file")
        check(f"{cf}:3:" in err, "the error names file:line")
        run_bad(["--config", os.path.join(tmp, "missing.conf")], what="missing config file")
    p = subprocess.run([DAEMON, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "127.0.0.1:9464" in p.stdout, "--help documents the default address")
    p = subprocess.run([DAEMON, "--version"], capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.startswith("autoprocsd "), "--version")
    # Environment and file are used when the command line says nothing.
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        cf = os.path.join(tmp, "autoprocsd.conf")
        with open(cf, "w") as f:
            f.write("target = pid:1\ntarget self\nlisten = 127.0.0.1:0\n")
        d = Daemon(["--config", cf])
        try:
            d.wait_ready()
            labels = [o["target"] for o in json.loads(d.get("/v1/limits")[1])]
            check(labels == ["pid:1", "self"], f"targets from the config file: {labels}")
        finally:
            d.stop()
        d = Daemon([], env={"AUTOPROCSD_LISTEN": "127.0.0.1:0", "AUTOPROCSD_TARGETS": "self pid:1",
                            "AUTOPROCSD_CONFIG": cf})
        try:
            d.wait_ready()
            labels = [o["target"] for o in json.loads(d.get("/v1/limits")[1])]
            check(labels == ["self", "pid:1"], f"environment beats the config file: {labels}")
        finally:
            d.stop()


# ------------------------------------------------------------------------------------------------
def group_signals():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon(["--listen", "127.0.0.1:0", "--target", "self", "--target", "pid:1"])
        d.wait_ready()
        t0 = time.time()
        d.proc.send_signal(sig)
        try:
            rc = d.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        elapsed = time.time() - t0
        check(rc == 0 and elapsed < 2.0, f"{sig.name}: exit 0 within 2 s ({rc}, {elapsed:.2f} s)")
        d.stop()

    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        cf = os.path.join(tmp, "autoprocsd.conf")
        with open(cf, "w") as f:
            f.write("target = self\ninterval = 200ms\n")
        d = Daemon(["--listen", "127.0.0.1:0", "--config", cf])
        try:
            d.wait_ready()
            with open(cf, "w") as f:
                f.write("target = self\ntarget = pid:1\ninterval = 200ms\n")
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log(r"reloaded: 2 targets")
            ok = wait_for(lambda: [o["target"] for o in json.loads(d.get("/v1/limits")[1])] == ["self", "pid:1"])
            check(ok, "SIGHUP: new targets in force")
            with open(cf, "w") as f:
                f.write("target = self\ntarget = nonsense\n")
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log(r"keeping the configuration in force")
            check(d.proc.poll() is None, "broken config on SIGHUP: still running")
            check(f"{cf}:2" in d.text(), "the reload error names file:line")
            labels = [o["target"] for o in json.loads(d.get("/v1/limits")[1])]
            check(labels == ["self", "pid:1"], f"broken config: old targets kept ({labels})")
            r, _ = d.get("/healthz")
            check(r.status == 200, "still serving after the failed reload")
        finally:
            d.stop()


# ------------------------------------------------------------------------------------------------
def group_notify():
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        path = os.path.join(tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(5)
        d = Daemon(["--listen", "127.0.0.1:0"], env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"},
                   shell_prefix="export WATCHDOG_PID=$$;")
        msgs = []
        try:
            def recv_until(pred, timeout=5):
                end = time.time() + timeout
                while time.time() < end:
                    try:
                        m = ns.recv(4096).decode()
                    except socket.timeout:
                        break
                    msgs.append(m)
                    if pred(m):
                        return m
                return None

            ready = recv_until(lambda m: "READY=1" in m)
            check(ready is not None and "STATUS=" in ready, f"READY=1 with STATUS ({ready!r})")
            wd = recv_until(lambda m: m == "WATCHDOG=1", timeout=2)
            check(wd is not None, "WATCHDOG=1 within half the watchdog interval")
            d.proc.send_signal(signal.SIGHUP)
            rl = recv_until(lambda m: "RELOADING=1" in m)
            check(rl is not None and re.search(r"MONOTONIC_USEC=\d+", rl or "") is not None,
                  f"RELOADING=1 with MONOTONIC_USEC ({rl!r})")
            rd = recv_until(lambda m: "READY=1" in m)
            check(rd is not None, "READY=1 after the reload")
            d.proc.send_signal(signal.SIGTERM)
            st = recv_until(lambda m: "STOPPING=1" in m)
            check(st is not None, "STOPPING=1 on SIGTERM")
            kinds = [k for m in msgs for k in ("READY=1", "RELOADING=1", "STOPPING=1") if k in m]
            check(kinds == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], f"order: {kinds}")
            check(d.proc.wait(5) == 0, "clean exit")
        finally:
            d.stop()
            ns.close()

        # Journal: with JOURNAL_STREAM naming our stderr, entries go to journald (libsystemd
        # build; without a journald socket it falls back to plain lines) or, in the build without
        # libsystemd, become "<PRIORITY>message" lines that journald's stream reader understands.
        d = Daemon(["--listen", "127.0.0.1:0"], shell_prefix=
                   'export JOURNAL_STREAM=$(stat -L -c "%d:%i" /proc/self/fd/2);')
        try:
            text = d.text()
            if DAEMON.endswith("-nosd"):
                check(re.search(r"^<5>serving metrics on http://", text, re.M) is not None,
                      f"journal stream without libsystemd: <5> prefixed lines ({text!r})")
            elif not os.path.exists("/run/systemd/journal/socket"):
                check(re.search(r"^autoprocsd: serving metrics on", text, re.M) is not None,
                      f"no journald: plain lines ({text!r})")
        finally:
            d.stop()

        # Socket activation: a bound, listening socket as fd 3, LISTEN_PID = the daemon's pid.
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]
        d = Daemon([], env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "metrics"},
                   shell_prefix="export LISTEN_PID=$$;", pass_fd=ls.fileno())
        ls.close()
        try:
            check(d.url == f"http://127.0.0.1:{port}", f"serves on the passed socket ({d.url})")
            r, body = d.get("/metrics")
            check(r.status == 200 and b"autoprocs_build_info" in body, "metrics over the passed socket")
        finally:
            d.stop()

        # LISTEN_PID of another process: the variables are not for us, the default applies.
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        d = Daemon(["--listen", "127.0.0.1:0"], env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
        try:
            check(d.url.startswith("http://127.0.0.1:") and d.url != f"http://127.0.0.1:{port}",
                  "foreign LISTEN_PID ignored")
        finally:
            d.stop()
            busy.close()


# ------------------------------------------------------------------------------------------------
def write(path, content):
    with open(path + ".new", "w") as f:
        f.write(content)
    os.rename(path + ".new", path)


def check_publish_atomic(d, envfile, quota_file):
    """The limit flips between 1.5 and 2.5 CPUs (2 and 3 processors) while a reader polls the
    published file: each read is a whole file (its last line complete, GOMAXPROCS in it), never
    a missing, empty or half-written one; each publish is a new file, the one a reader still
    holds open keeps its content (an open file keeps its inode: the number cannot be reused)."""
    bad = []
    reads = [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with open(envfile) as f:
                    c = f.read()
            except FileNotFoundError as e:
                bad.append(repr(e))
                continue
            reads[0] += 1
            if not c.endswith("\n") or not re.search(r"^GOMAXPROCS=\d+$", c, re.M) \
                    or "AUTOPROCS_LIMIT_CPUS=" not in c:
                bad.append(c)

    t = threading.Thread(target=reader)
    t.start()
    followed = replaced = 0
    try:
        for i in range(6):
            quota, procs = ("150000", 2) if i % 2 == 0 else ("250000", 3)
            with open(envfile) as old:
                before = old.read()
                write(quota_file, quota + "\n")
                if wait_for(lambda: f"GOMAXPROCS={procs}\n" in open(envfile).read(), timeout=30):
                    followed += 1
                    old.seek(0)
                    if os.fstat(old.fileno()).st_ino != os.stat(envfile).st_ino \
                            and old.read() == before:
                        replaced += 1
    finally:
        stop.set()
        t.join()
    check(followed == 6, f"published file followed 6 limit changes ({followed})")
    check(replaced == 6, f"each publish a new file, the old one unchanged ({replaced} of 6)")
    check(not bad and reads[0] > 0,
          f"{reads[0]} reads while publishing, none partial or missing ({bad[:3]!r})")


def group_targets():
    fixture = os.path.join(SRC, "tests", "fixtures", "v1-cpu-cpuacct")
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-")
    pub = tempfile.mkdtemp(prefix="autoprocs-test-pub-")
    sleeper = subprocess.Popen(["sleep", "60"])
    d = None
    try:
        root = os.path.join(tmp, "root")
        shutil.copytree(fixture, root)
        cg = os.path.join(root, "sys/fs/cgroup/cpu,cpuacct/system.slice/foo.service")
        rt = f"root:{root}"
        pt = f"pid:{sleeper.pid}"
        d = Daemon(["--listen", "127.0.0.1:0", "--interval", "100ms", "--publish", pub,
                    "--target", rt, "--target", pt, "--target", "pid:2147483646"])
        check(d.wait_ready(), "ready with a pid that does not exist")
        m = d.metrics()
        check(sample(m, "autoprocs_cpu_limit_cores", {"target": rt}) == 1.5, "fixture limit 1.5")
        check(sample(m, "autoprocs_cpu_throttled_periods_total", {"target": rt}) == 250, "fixture nr_throttled")
        check(sample(m, "autoprocs_target_up", {"target": pt}) == 1, "live pid up")
        check(sample(m, "autoprocs_target_up", {"target": "pid:2147483646"}) == 0, "missing pid down")
        check(sample(m, "autoprocs_probe_errors_total", {"target": "pid:2147483646", "probe": "target"}) >= 1,
              "missing pid counted as probe error")
        envfile = os.path.join(pub, "root_" + root.replace("/", "_").lstrip("_") + ".env")
        envfile = os.path.join(pub, re.sub(r"[^A-Za-z0-9._-]", "_", rt) + ".env")
        content = wait_for(lambda: os.path.exists(envfile) and open(envfile).read())
        check(content and "AUTOPROCS_PROCS=2\n" in content and "GOMAXPROCS=2\n" in content
              and "OMP_NUM_THREADS=2\n" in content, f"published {envfile}: {content!r}")
        check(oct(os.stat(envfile).st_mode & 0o777) == "0o644", "published file mode 0644")

        held = open(envfile)  # kept open: its inode number cannot be reused meanwhile

        # The test rewrites the fixture: a larger quota, then cpu.stat restarting lower.
        write(os.path.join(cg, "cpu.cfs_quota_us"), "250000\n")
        ok = wait_for(lambda: sample(d.metrics(), "autoprocs_cpu_limit_cores", {"target": rt}) == 2.5)
        check(ok, "rewritten quota seen: 2.5")
        m = d.metrics()
        check(sample(m, "autoprocs_recommended_procs", {"target": rt}) == 3, "recommendation 3")
        check(sample(m, "autoprocs_resizes_total", {"target": rt, "direction": "up"}) == 1, "one resize up")
        check(wait_for(lambda: "GOMAXPROCS=3\n" in open(envfile).read()), "published file follows: 3")
        # Published by rename: a new file (inode), never the old one rewritten in place.
        check(os.fstat(held.fileno()).st_ino != os.stat(envfile).st_ino and "GOMAXPROCS=2\n" in held.read(),
              "published file replaced by a rename (new inode, the old file unchanged)")
        held.close()
        check(wait_for(lambda: re.search(r"target root:\S+: limit 2\.5 CPUs", d.text())), "limit change logged")
        write(os.path.join(cg, "cpu.stat"), "nr_periods 10\nnr_throttled 5\nthrottled_time 1000000000\n")
        ok = wait_for(lambda: sample(d.metrics(), "autoprocs_cpu_throttled_periods_total", {"target": rt}) == 255)
        check(ok, "cpu.stat restarted at a lower value: counter stays monotonic (250 + 5)")
        check(sample(d.metrics(), "autoprocs_cpu_periods_total", {"target": rt}) == 1010, "periods 1000 + 10")

        check_publish_atomic(d, envfile, os.path.join(cg, "cpu.cfs_quota_us"))

        # A pid that exits: reported, retried, never fatal.
        sleeper.kill()
        sleeper.wait()
        ok = wait_for(lambda: sample(d.metrics(), "autoprocs_target_up", {"target": pt}) == 0)
        check(ok, "exited pid: target_up 0")
        wait_for(lambda: f"target {pt}: gone" in d.text())
        check(len(re.findall(re.escape(f"target {pt}: gone"), d.text())) == 1, "pid loss logged once")
        # The root disappears and comes back.
        shutil.move(root, root + ".away")
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_target_up", {"target": rt}) == 0), "root gone: down")
        before = sample(d.metrics(), "autoprocs_cpu_throttled_periods_total", {"target": rt})
        check(before == 255, "counters kept while the target is lost")
        shutil.move(root + ".away", root)
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_target_up", {"target": rt}) == 1), "root back: up")
        check(wait_for(lambda: "found again" in d.text()), "found again logged")
        check(d.proc.poll() is None, "daemon alive after targets came and went")

        # A target whose name holds a tab (and a quote and a backslash): /v1/limits must stay
        # valid JSON and give the name back unchanged.
        odd = os.path.join(tmp, 'ro\tot "q" \\b')
        shutil.copytree(fixture, odd)
        ot = f"root:{odd}"
        d3 = Daemon(["--listen", "127.0.0.1:0", "--interval", "100ms", "--target", ot])
        try:
            def limits():
                r, body = d3.get("/v1/limits")
                try:
                    v = json.loads(body)
                except ValueError as e:
                    return f"invalid JSON ({e}): {body[:200]!r}"
                return v if r.status == 200 and v and v[0].get("procs") else None
            got = wait_for(limits)
            check(isinstance(got, list) and got[0].get("target") == ot and got[0].get("procs") == 2,
                  f"/v1/limits with a tab in the target name: {got!r}")
        finally:
            d3.stop()

        # comm:NAME (a sidecar's app): found by name, lost when it exits.
        name = f"apt{os.getpid() % 100000}"
        exe = os.path.join(tmp, name)
        shutil.copy("/bin/sleep", exe)
        cp = subprocess.Popen([exe, "60"])
        try:
            d2 = Daemon(["--listen", "127.0.0.1:0", "--interval", "100ms", "--target", f"comm:{name}"])
            try:
                ok = wait_for(lambda: sample(d2.metrics(), "autoprocs_target_up", {"target": f"comm:{name}"}) == 1)
                check(ok and f"target comm:{name}: process {cp.pid}" in d2.text(), "comm:NAME finds the process")
                cp.kill()
                cp.wait()
                ok = wait_for(lambda: sample(d2.metrics(), "autoprocs_target_up", {"target": f"comm:{name}"}) == 0)
                check(ok, "comm:NAME lost when the process exits")
            finally:
                d2.stop()
        finally:
            if cp.poll() is None:
                cp.kill()
                cp.wait()
        # No log line per tick: ten more ticks (the missing pid's probe errors count each one).
        def missing_errors():
            return sample(d.metrics(), "autoprocs_probe_errors_total",
                          {"target": "pid:2147483646", "probe": "target"})
        ticks = len(re.findall(r"gone|found|limit", d.text()))
        errors0 = missing_errors()
        check(wait_for(lambda: missing_errors() >= errors0 + 10, timeout=60),
              f"ten more ticks ({errors0} -> {missing_errors()} probe errors)")
        check(len(re.findall(r"gone|found|limit", d.text())) == ticks, "no log lines per tick")
        pt_tool = promtool()
        if pt_tool:
            p = subprocess.run([pt_tool, "check", "metrics"], input=d.metrics().encode(), capture_output=True)
            check(p.returncode == 0 and not p.stdout and not p.stderr,
                  f"promtool with lost targets: {p.stdout!r} {p.stderr!r}")
    finally:
        if d:
            d.stop()
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pub, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
CPU_V1 = "/sys/fs/cgroup/cpu"


def group_cgroup():
    """A real v1 cgroup target that is removed and re-created (root only)."""
    if os.geteuid() != 0 or not os.path.isfile(os.path.join(CPU_V1, "cpu.cfs_quota_us")):
        print("# SKIP: needs root and a cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu")
        return SKIP
    path = os.path.join(CPU_V1, f"autoprocs-test-daemon-{os.getpid()}")
    target = f"cgroup:{path}"
    d = None
    child = None

    def make():
        os.mkdir(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write("10000")

    def spin():
        # A child that burns CPU inside the cgroup, so that it is throttled.
        p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
        return p

    try:
        make()
        child = spin()
        d = Daemon(["--listen", "127.0.0.1:0", "--interval", "200ms", "--target", target])
        d.wait_ready()
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_cpu_limit_cores", {"target": target}) == 0.1),
              "real cgroup: limit 0.1")
        ok = wait_for(lambda: (sample(d.metrics(), "autoprocs_cpu_throttled_periods_total", {"target": target}) or 0) > 2)
        check(ok, "real cgroup: throttled periods counted")
        before = sample(d.metrics(), "autoprocs_cpu_throttled_periods_total", {"target": target})
        child.kill()
        child.wait()
        child = None
        os.rmdir(path)
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_target_up", {"target": target}) == 0),
              "removed cgroup: target down")
        check(d.proc.poll() is None, "removed cgroup: daemon alive")
        make()
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_target_up", {"target": target}) == 1),
              "re-created cgroup found again")
        after = sample(d.metrics(), "autoprocs_cpu_throttled_periods_total", {"target": target})
        check(after is not None and after >= before, f"counter monotonic over re-creation ({before} -> {after})")
        d.stop()
        d = None

        # The daemon inside the limited cgroup: its embedded runtime follows the quota live.
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write("100000")
        d = Daemon(["--listen", "127.0.0.1:0", "--policy", "ceil", "--interval", "200ms"],
                   env={"AUTOPROCS_INTERVAL": "200ms"},
                   shell_prefix=f"echo $$ > {path}/cgroup.procs;")
        d.wait_ready()
        rp = lambda: sample(d.metrics(), "autoprocs_runtime_procs", {"target": "self"})
        check(wait_for(lambda: rp() == 1), f"daemon in a 1-CPU cgroup: runtime_procs 1 ({rp()})")
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write("200000")
        check(wait_for(lambda: rp() == 2), f"quota raised to 2 CPUs: runtime_procs 2 ({rp()})")
        check(wait_for(lambda: sample(d.metrics(), "autoprocs_resizes_total",
                                      {"target": "self", "direction": "up"}) == 1),
              "the live resize is counted for target self")
        limits = json.loads(d.get("/v1/limits")[1])
        check(limits[0].get("runtime_procs") == 2, f"/v1/limits runtime_procs 2 ({limits[0].get('runtime_procs')})")
    finally:
        if d:
            d.stop()
        if child:
            child.kill()
            child.wait()
        if os.path.isdir(path):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.1)
            except OSError:
                pass
            os.rmdir(path)
    return 0


def main():
    global DAEMON, SRC
    group, DAEMON, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.access(DAEMON, os.X_OK):
        print(f"# SKIP: {DAEMON} not built")
        return SKIP
    groups = {"http": group_http, "config": group_config, "signals": group_signals,
              "notify": group_notify, "targets": group_targets, "cgroup": group_cgroup}
    try:
        r = groups[group]()
    except Exception:
        traceback.print_exc()
        FAILS.append("exception")
        r = 0
    if r == SKIP:
        return SKIP
    print(f"# {len(FAILS)} failed" if FAILS else "# all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
