#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real Prometheus server scrapes autoprocsd while a real v1 cgroup is throttled.

Usage: test-daemon-prometheus.py AUTOPROCSD
The test creates /sys/fs/cgroup/cpu/autoprocs-test-prom-PID with a quota of 0.1 CPU and a
spinning child inside, starts autoprocsd with that cgroup as a cgroup:PATH target, starts
/usr/bin/prometheus (temp config, scrape_interval 1s, temp TSDB, 127.0.0.1:<free port>), and asks
Prometheus's HTTP API whether autoprocs_cpu_throttled_periods_total of that target increased.
Prometheus, the daemon, the child and the cgroup are always removed.  Exit 77 (skip) only when
not root, without a v1 cpu hierarchy, or without the prometheus package.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SKIP = 77
CPU_V1 = "/sys/fs/cgroup/cpu"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        data = json.load(r)
    if data.get("status") != "success":
        raise RuntimeError(f"query {expr}: {data}")
    return data["data"]["result"]


def find_prometheus():
    for p in (shutil.which("prometheus"), "/usr/bin/prometheus"):
        if p and os.access(p, os.X_OK):
            return p
    # The package is in Debian; install it when we may (root, apt-get present).
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "prometheus"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)
        if os.access("/usr/bin/prometheus", os.X_OK):
            return "/usr/bin/prometheus"
    return None


def main():
    daemon = sys.argv[1]
    if os.geteuid() != 0:
        print("# SKIP: not root (a real cgroup is needed)")
        return SKIP
    if not os.path.isfile(os.path.join(CPU_V1, "cpu.cfs_quota_us")):
        print("# SKIP: no cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu")
        return SKIP
    prom = find_prometheus()
    if not prom:
        print("# SKIP: the prometheus package cannot be installed")
        return SKIP

    cg = os.path.join(CPU_V1, f"autoprocs-test-prom-{os.getpid()}")
    target = f"cgroup:{cg}"
    tmp = tempfile.mkdtemp(prefix="autoprocs-test-prom-")
    procs = []
    fails = []
    try:
        os.mkdir(cg)
        with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
            f.write("10000")
        spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        procs.append(spin)
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(spin.pid))

        log = open(os.path.join(tmp, "daemon.log"), "w+")
        d = subprocess.Popen([daemon, "--listen", "127.0.0.1:0", "--interval", "500ms",
                              "--target", "self", "--target", target], stderr=log)
        procs.append(d)
        end = time.time() + 10
        m = None
        while time.time() < end and not m:
            log.seek(0)
            m = re.search(r"serving metrics on http://([0-9.]+:\d+)/metrics", log.read())
            time.sleep(0.05)
        if not m:
            raise RuntimeError("the daemon did not report its address")
        daemon_addr = m.group(1)

        port = free_port()
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: autoprocsd\n"
                    f"    static_configs:\n      - targets: ['{daemon_addr}']\n")
        plog = open(os.path.join(tmp, "prometheus.log"), "w+")
        p = subprocess.Popen([prom, f"--config.file={conf}", f"--storage.tsdb.path={tmp}/data",
                              f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=plog, stderr=plog)
        procs.append(p)
        base = f"http://127.0.0.1:{port}"

        sel = f'autoprocs_cpu_throttled_periods_total{{target="{target}"}}'
        first = None
        end = time.time() + 40
        last = None
        while time.time() < end:
            time.sleep(1)
            try:
                up = query(base, 'up{job="autoprocsd"}')
                res = query(base, sel)
            except Exception as e:  # Prometheus still starting
                last = e
                continue
            if not up or up[0]["value"][1] != "1" or not res:
                last = f"up={up} res={res}"
                continue
            v = float(res[0]["value"][1])
            if first is None:
                first = v
            # Increased over time as Prometheus stored it: increase() over its own samples.
            inc = query(base, f"increase({sel}[30s])")
            if v > first and inc and float(inc[0]["value"][1]) > 0:
                print(f"ok - Prometheus saw throttled periods increase: {first} -> {v}, "
                      f"increase()={inc[0]['value'][1]}")
                break
        else:
            fails.append(f"no increase seen (first={first}, last={last})")
            plog.seek(0)
            print(plog.read()[-3000:])

        if not fails:
            # The scrape itself was healthy: the OpenMetrics body parsed, no sample was dropped.
            meta = query(base, 'scrape_samples_scraped{job="autoprocsd"}')
            if meta and float(meta[0]["value"][1]) > 10:
                print(f"ok - scrape_samples_scraped = {meta[0]['value'][1]}")
            else:
                fails.append(f"scrape_samples_scraped: {meta}")
            lim = query(base, f'autoprocs_cpu_limit_cores{{target="{target}"}}')
            if lim and float(lim[0]["value"][1]) == 0.1:
                print("ok - autoprocs_cpu_limit_cores 0.1 in Prometheus")
            else:
                fails.append(f"limit in Prometheus: {lim}")
    finally:
        for pr in reversed(procs):
            if pr.poll() is None:
                pr.send_signal(signal.SIGTERM)
                try:
                    pr.wait(5)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait()
        if os.path.isdir(cg):
            try:
                with open(os.path.join(cg, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(tmp, ignore_errors=True)
    for f in fails:
        print(f"not ok - {f}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
