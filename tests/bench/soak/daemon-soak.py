#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Soak benchmark of autoprocsd: RSS, fds and threads over a long scrape run (not run in CI).

Usage: daemon-soak.py AUTOPROCSD [--minutes 10] [--rate 20] [--report 5] [--fixture DIR] [-- ARGS...]

Starts the daemon on 127.0.0.1:0 with targets self and root:FIXTURE (tests/fixtures/v2-quota-1.5,
a 250 ms interval), scrapes /metrics at RATE per second (alternating plain and OpenMetrics, one
new connection per scrape, /v1/limits every 10th) and prints VmRSS, open fds and threads of the
daemon at the start (after the first scrapes) and every REPORT minutes, then the growth.  Extra
daemon arguments go after "--".  The numbers depend on the machine's load.
"""
import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def sample(pid):
    return {"rss_kb": status(pid, "VmRSS"), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": status(pid, "Threads")}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("daemon")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--report", type=float, default=5)
    ap.add_argument("--fixture", default=os.path.join(here, "..", "..", "fixtures", "v2-quota-1.5"))
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    log = tempfile.NamedTemporaryFile(prefix="autoprocs-soak-", delete=False)
    proc = subprocess.Popen([a.daemon, "--listen", "127.0.0.1:0", "--interval", "250ms",
                             "--target", "self", "--target", "root:" + os.path.abspath(a.fixture)]
                            + a.extra, stdout=subprocess.DEVNULL, stderr=log)
    try:
        url = None
        for _ in range(500):
            m = re.search(r"serving metrics on http://([^:/]+):(\d+)/metrics",
                          open(log.name, errors="replace").read())
            if m:
                url = (m.group(1), int(m.group(2)))
                break
            if proc.poll() is not None:
                sys.exit(f"daemon-soak: the daemon exited: {open(log.name).read()}")
            time.sleep(0.02)
        if not url:
            sys.exit("daemon-soak: no 'serving metrics on' line")

        def scrape(i):
            c = http.client.HTTPConnection(url[0], url[1], timeout=5)
            path = "/v1/limits" if i % 10 == 9 else "/metrics"
            hdr = {"Accept": "application/openmetrics-text; version=1.0.0"} if i % 2 else {}
            c.request("GET", path, headers=hdr)
            r = c.getresponse()
            r.read()
            c.close()
            return r.status

        for i in range(20):
            scrape(i)
        start = sample(proc.pid)
        rows = [(0.0, start)]
        print(f"soak: rate {a.rate}/s, {a.minutes} min, pid {proc.pid}", flush=True)
        print(f"t=0.0 min rss {start['rss_kb']} kB fds {start['fds']} threads {start['threads']}",
              flush=True)
        t0 = time.monotonic()
        next_report = a.report * 60
        i, errors = 0, 0
        period = 1.0 / a.rate
        end = a.minutes * 60
        while True:
            now = time.monotonic() - t0
            if now >= end:
                break
            try:
                if scrape(i) != 200:
                    errors += 1
            except OSError:
                errors += 1
            i += 1
            if now >= next_report:
                s = sample(proc.pid)
                rows.append((now / 60, s))
                print(f"t={now / 60:.1f} min rss {s['rss_kb']} kB fds {s['fds']} "
                      f"threads {s['threads']} scrapes {i} errors {errors}", flush=True)
                next_report += a.report * 60
            delay = t0 + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s = sample(proc.pid)
        rows.append((a.minutes, s))
        print(f"t={a.minutes:.1f} min rss {s['rss_kb']} kB fds {s['fds']} threads {s['threads']} "
              f"scrapes {i} errors {errors}")
        print(f"growth: rss {s['rss_kb'] - start['rss_kb']:+d} kB, fds {s['fds'] - start['fds']:+d}, "
              f"threads {s['threads'] - start['threads']:+d}")
        return 1 if errors else 0
    finally:
        proc.terminate()
        proc.wait(5)
        os.unlink(log.name)


if __name__ == "__main__":
    sys.exit(main())
