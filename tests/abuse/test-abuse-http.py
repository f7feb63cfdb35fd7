#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Malformed requests and stopping under load against autoprocsd's HTTP server (issue 14).

- "/metrics%00" is 400 (it was served as /metrics), raw NUL or control bytes in a request line
  are answered 400 (or the connection closed) at once, not after a timeout;
- HTTP/1.1 without Host is 400, HTTP/1.0 without Host is still fine;
- keep-alive still works;
- SIGTERM with 64 slow connections open stops the daemon within 2 s, exit 0, and no stop-guard
  line ("the stop took over") in the log.
Bounded: about 10 s, loopback only.  ARGS: autoprocsd, autoprocs CLI (unused), source root.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import Daemon, check, main, wait_for  # noqa: E402


def raw(addr, data, wait=3.0):
    """Send @data, read until close or @wait s: (reply bytes, seconds until the reply or close)."""
    t0 = time.monotonic()
    with socket.create_connection(addr, timeout=wait) as s:
        s.sendall(data)
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
                if b"\r\n\r\n" in got and b"Connection: close" not in got:
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    return got, time.monotonic() - t0


def status(reply):
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else None


def test(exe, cli, root):
    d = Daemon(exe, ["--interval", "1"])
    try:
        check(wait_for(lambda: d.get("/readyz")[0] == 200, 15), "daemon ready")
        r, _ = raw(d.addr, b"GET /metrics%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status(r) == 400, f"/metrics%00 is 400 (got {status(r)})")
        r, _ = raw(d.addr, b"GET /metrics%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(status(r) == 400, f"/metrics%00.txt is 400 (got {status(r)})")
        r, _ = raw(d.addr, b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        check(status(r) == 400, f"HTTP/1.1 without Host is 400 (got {status(r)})")
        r, _ = raw(d.addr, b"GET /healthz HTTP/1.0\r\n\r\n")
        check(status(r) == 200, f"HTTP/1.0 without Host is 200 (got {status(r)})")
        for name, junk in [("NUL first", b"\x00\x01\x02\xffgarbage"),
                           ("NUL in the line", b"GET /metr\x00ics HTTP/1.1"),
                           ("binary", bytes(range(200, 256)) * 4),
                           ("control byte", b"GET /\x07 HTTP/1.1\r\n\r\n")]:
            r, t = raw(d.addr, junk, wait=4.0)
            check((status(r) == 400 or r == b"") and t < 1.0,
                  f"garbage ({name}): answered {status(r)} or closed in {t * 1000:.0f} ms")
        # keep-alive: two requests on one connection
        with socket.create_connection(d.addr, timeout=5) as s:
            answers = 0
            for _ in range(2):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                got = b""
                while b"ok\n" not in got:
                    b = s.recv(4096)
                    if not b:
                        break
                    got += b
                answers += status(got) == 200
            check(answers == 2, "keep-alive: two answers on one connection")
        # SIGTERM with 64 slow connections attached
        slow = []
        for i in range(64):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % 4}", 0))
            s.connect(d.addr)
            s.send(b"GET /met")
            slow.append(s)
        time.sleep(0.5)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            rc = None
        elapsed = time.monotonic() - t0
        check(rc == 0, f"SIGTERM with 64 slow connections: exit {rc} in {elapsed:.2f} s")
        check("the stop took over" not in d.text(), "no stop-guard line: the orderly stop was "
              "in time")
        for s in slow:
            s.close()
    finally:
        d.kill()


if __name__ == "__main__":
    main(lambda: test(*sys.argv[1:4]))
