#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Attacks on autoprocsd's config file: a FIFO, a device, a directory, a huge file, binary garbage,
at start and on SIGHUP.  Usage: test-abuse-config.py AUTOPROCSD

- at start, each is refused with exit 2 and one line naming the file;
- on SIGHUP, the reload fails with a line naming the file, the targets in force stay, and the
  daemon still stops within 2 s of SIGTERM (a FIFO used to hang the reload on the signal thread).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import Daemon, check, main, wait_for  # noqa: E402

EXE = sys.argv[1]


def refused(path, what):
    try:
        p = subprocess.run([EXE, "--listen", "127.0.0.1:0", "--config", path], capture_output=True,
                           text=True, timeout=10)
    except subprocess.TimeoutExpired:
        check(False, f"start with {what}: still running after 10 s")
        return
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and path in lines[0],
          f"start with {what}: exit 2, one line naming the file ({p.returncode}, {p.stderr.strip()!r})")


def targets(d):
    return [o["target"] for o in json.loads(d.get("/v1/limits")[1])]


def run():
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-abuse-") as tmp:
        fifo = os.path.join(tmp, "fifo.conf")
        os.mkfifo(fifo)
        refused(fifo, "a FIFO")
        refused("/dev/zero", "a character device")
        refused(tmp, "a directory")
        nul = os.path.join(tmp, "nul.conf")
        with open(nul, "wb") as f:
            f.write(b"\0" * 64)
        refused(nul, "NUL bytes")
        garbage = os.path.join(tmp, "garbage.conf")
        with open(garbage, "wb") as f:
            f.write(b"target = self\ninterval = 1s\x1b[2J\n")
        refused(garbage, "a control character")
        huge = os.path.join(tmp, "huge.conf")
        with open(huge, "wb") as f:
            f.write(b"# padding\n" * (200 * 1024))
        refused(huge, "a 2 MB file")

        # On SIGHUP: the config replaced by each of them in turn.
        cf = os.path.join(tmp, "autoprocsd.conf")
        with open(cf, "w") as f:
            f.write("target = self\ntarget = pid:1\ninterval = 250ms\n")
        d = Daemon(EXE, ["--config", cf])
        try:
            check(wait_for(lambda: d.get("/readyz")[0] == 200), "ready with 2 targets")
            for what, make in (
                    ("NUL bytes", lambda p: open(p, "wb").write(b"\0" * 64)),
                    ("binary garbage", lambda p: open(p, "wb").write(bytes(range(256)) * 4)),
                    ("a FIFO", lambda p: os.mkfifo(p))):
                os.unlink(cf)
                make(cf)
                n = d.text().count("keeping the configuration in force")
                d.proc.send_signal(signal.SIGHUP)
                ok = wait_for(lambda: d.text().count("keeping the configuration in force") > n, 5)
                check(ok, f"SIGHUP with {what}: the reload fails")
                last = [l for l in d.text().splitlines() if "keeping the configuration" in l][-1:]
                check(bool(last) and cf in last[0], f"... with a line naming the file ({last})")
                check(targets(d) == ["self", "pid:1"], f"... and the targets stay ({targets(d)})")
                check(d.get("/healthz")[0] == 200, "... and the daemon still serves")
            # The config is a FIFO now: a reload must not hold up SIGTERM.
            d.proc.send_signal(signal.SIGHUP)
            ok, elapsed = d.stop_within(2.0)
            check(ok, f"SIGTERM after SIGHUP on a FIFO: gone within 2 s ({elapsed:.2f} s)")
        finally:
            d.kill()


main(run)
