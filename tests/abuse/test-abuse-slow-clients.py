#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Slow and idle clients against autoprocsd's HTTP server (issue 14, finding 1).

Attack: 64 clients from 127.0.0.2-5 (16 each) trickle a request one byte every 0.3 s and
reconnect whenever the daemon closes them, while 2,000 connections from 127.0.0.1 send nothing
(reconnecting too).  Meanwhile a normal client on 127.0.0.1 scrapes /metrics, a fresh connection
each time: every scrape must be answered 200 (before the fix 64 slow clients, or 2,000 idle
ones, locked every other client out).  Prints the normal client's latencies before and during the
attack and the daemon's fds and threads before, during and after; fds come back down and the
thread count does not grow with the connections.  Bounded: about 25 s, loopback only.
ARGS: autoprocsd, autoprocs CLI (unused), source root.
"""
import os
import resource
import selectors
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import SKIP, Daemon, check, main, wait_for  # noqa: E402

SLOW_ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
SLOW_PER_ADDR = 16
IDLE = 2000
SCRAPES = 150
TRICKLE = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"s" * 400 + b"\r\n\r\n"


def proc_counts(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    return fds, threads


def scrape(addr):
    """One GET /metrics on a fresh connection: (status or None, seconds)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(addr, timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    except OSError:
        status = None
    return status, time.monotonic() - t0


def scrapes(addr, n):
    res = [scrape(addr) for _ in range(n)]
    ok = [t for st, t in res if st == 200]
    return len(ok), sorted(ok)


def pct(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


class Attackers:
    """The slow and idle connections, kept attached by one thread (reconnecting as needed)."""

    def __init__(self, addr):
        self.addr = addr
        self.stop = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # socket -> [kind, source, bytes sent]
        self.closed_by_daemon = 0
        self.max_attached = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, kind, source):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((source, 0))
        try:
            s.connect(self.addr)
        except BlockingIOError:
            pass
        self.conns[s] = [kind, source, 0]
        self.sel.register(s, selectors.EVENT_READ)

    def drop(self, s):
        kind, source, _ = self.conns.pop(s)
        self.sel.unregister(s)
        s.close()
        return kind, source

    def attached(self):
        return len(self.conns)

    def run(self):
        for a in SLOW_ADDRS:
            for _ in range(SLOW_PER_ADDR):
                self.open("slow", a)
        for _ in range(IDLE):
            self.open("idle", "127.0.0.1")
        next_byte = time.monotonic()
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    gone = s.recv(4096) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    self.closed_by_daemon += 1
                    kind, source = self.drop(s)
                    self.open(kind, source)
            self.max_attached = max(self.max_attached, self.attached())
            if time.monotonic() >= next_byte:
                next_byte += 0.3
                for s, st in list(self.conns.items()):
                    if st[0] == "slow":
                        try:
                            s.send(TRICKLE[st[2] % len(TRICKLE):][:1])
                            st[2] += 1
                        except (BlockingIOError, OSError):
                            pass
        for s in list(self.conns):
            self.drop(s)


def test(exe, cli, root):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + 64 * 2 + 512
    if hard < want:
        print(f"skip: RLIMIT_NOFILE hard {hard} < {want}")
        return SKIP
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        socket.create_connection(("127.0.0.2", 9), timeout=1).close()
    except ConnectionRefusedError:
        pass
    except OSError as e:
        print(f"skip: no 127.0.0.2 on loopback ({e})")
        return SKIP

    d = Daemon(exe, ["--interval", "1"])
    try:
        check(wait_for(lambda: d.get("/readyz")[0] == 200, 15), "daemon ready")
        fds0, thr0 = proc_counts(d.proc.pid)
        n0, base = scrapes(d.addr, SCRAPES)
        check(n0 == SCRAPES, f"baseline: {n0}/{SCRAPES} scrapes answered")

        att = Attackers(d.addr)
        att.thread.start()
        check(wait_for(lambda: att.attached() >= IDLE + 60, 20), f"attack attached "
              f"({att.attached()} connections)")
        time.sleep(1.0)
        fds1, thr1 = proc_counts(d.proc.pid)
        n1, during = scrapes(d.addr, SCRAPES)
        fds2, thr2 = proc_counts(d.proc.pid)
        att.stop.set()
        att.thread.join(30)

        print(f"normal client, fresh connection per scrape: before the attack p50 "
              f"{pct(base, 0.5):.2f} ms p99 {pct(base, 0.99):.2f} ms; during it "
              f"{n1}/{SCRAPES} answered, p50 {pct(during, 0.5):.2f} ms p99 "
              f"{pct(during, 0.99):.2f} ms max {pct(during, 1.0):.2f} ms")
        print(f"attack: {att.max_attached} connections attached at most, "
              f"{att.closed_by_daemon} closed by the daemon (deadlines, room for others)")
        check(n1 == SCRAPES, f"during the attack: {n1}/{SCRAPES} scrapes answered 200")
        check(pct(during, 1.0) < 2000, "no scrape took 2 s or more")
        check(thr2 <= thr0 + 2 and thr1 <= thr0 + 2,
              f"threads do not grow with connections ({thr0} before, {thr1}/{thr2} during)")
        check(fds1 > fds0 + 500, f"the daemon held the attack's connections ({fds0} fds "
              f"before, {fds1} during)")
        check(wait_for(lambda: proc_counts(d.proc.pid)[0] <= fds0 + 4, 20),
              f"fds back down after the attack ({fds0} before, {proc_counts(d.proc.pid)[0]} "
              f"after)")
        fds3, thr3 = proc_counts(d.proc.pid)
        print(f"daemon fds/threads: before {fds0}/{thr0}, during {fds1}/{thr1}, after "
              f"{fds3}/{thr3}")
        check(d.get("/metrics")[0] == 200, "still serving after the attack")
        ok, elapsed = d.stop_within(2.0)
        check(ok, f"SIGTERM: exit 0 in {elapsed:.2f} s")
    finally:
        d.kill()


if __name__ == "__main__":
    main(lambda: test(*sys.argv[1:4]))
