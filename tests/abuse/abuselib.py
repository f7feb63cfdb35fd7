# SPDX-License-Identifier: MIT
"""Shared by the tests/abuse/ attack tests: one autoprocsd child, checks and the closing line.

Each test file is one attack family, bounded in time (the whole folder runs in .ci/run), loopback
only.  A check that fails prints "not ok - WHAT"; main() exits 1 if any failed, 77 to skip.
"""
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
FAILS = []


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Daemon:
    """autoprocsd on 127.0.0.1:0; stderr in a file; @prefix: shell run before exec ($$ = its pid)."""

    def __init__(self, exe, args, env=None, prefix=None):
        self.log = tempfile.NamedTemporaryFile(prefix="autoprocs-abuse-log-", delete=False)
        e = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "JOURNAL_STREAM"):
            e.pop(k, None)
        e.update(env or {})
        cmd = [exe, "--listen", "127.0.0.1:0"] + args
        if prefix:
            cmd = ["/bin/sh", "-c", prefix + ' exec "$@"', "sh"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=e)
        if not wait_for(lambda: self.proc.poll() is not None or
                        re.search(r"serving metrics on http://", self.text()), 15):
            raise RuntimeError("no 'serving metrics on' line: " + self.text())
        m = re.search(r"serving metrics on http://([^:/]+):(\d+)/metrics", self.text())
        if not m:
            raise RuntimeError(f"daemon exited ({self.proc.returncode}): {self.text()}")
        self.addr = (m.group(1), int(m.group(2)))

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def get(self, path):
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()

    def wait_log(self, pattern, timeout=10.0):
        return wait_for(lambda: re.search(pattern, self.text()) is not None, timeout)

    def stop_within(self, seconds):
        """SIGTERM; True if it exited 0 within @seconds.  Killed after that in any case."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            rc = None
        elapsed = time.monotonic() - t0
        self.kill()
        return rc == 0, elapsed

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def metric(text, name, labels=""):
    """The value of NAME{LABELS...} in exposition text, or None."""
    for line in text.splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def main(fn):
    try:
        rc = fn()
    except Exception as e:  # a crash of the test is a failure, with its reason
        import traceback
        traceback.print_exc()
        check(False, f"test raised {e!r}")
        rc = None
    if rc == SKIP:
        sys.exit(SKIP)
    print(f"{len(FAILS)} failed" if FAILS else "all passed")
    sys.exit(1 if FAILS else 0)
