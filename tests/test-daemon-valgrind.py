#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""autoprocsd under valgrind's memcheck: start, scrape every endpoint, reload, stop; no error.
Usage: test-daemon-valgrind.py AUTOPROCSD SOURCE_ROOT

Skipped (77) unless AP_VALGRIND=1 (.ci/run's valgrind stage sets it: the run takes ~30 s) or when
valgrind is missing or the daemon is a sanitizer build.  Task stacks are registered with
valgrind (lib/runtime/valgrind.h); without that every switch between them (ap_arch_switch) made
memcheck report the task's reads of its own stack (27,231 reports in a 10-minute run).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "abuse"))
from abuselib import Daemon, check, main, wait_for  # noqa: E402

DAEMON, SRC = sys.argv[1], sys.argv[2]


def run():
    if os.environ.get("AP_VALGRIND") != "1":
        print("skip: set AP_VALGRIND=1 to run the daemon under valgrind (.ci/run does)")
        return 77
    vg = shutil.which("valgrind")
    if not vg:
        print("skip: valgrind not installed")
        return 77
    libs = subprocess.run(["ldd", DAEMON], capture_output=True, text=True).stdout
    if "libasan" in libs or "libtsan" in libs:
        print("skip: a sanitizer build (valgrind cannot run it)")
        return 77
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-vg-") as tmp:
        log = os.path.join(tmp, "vg.log")
        cf = os.path.join(tmp, "autoprocsd.conf")
        pub = os.path.join(tmp, "pub")
        os.mkdir(pub)
        fixture = os.path.join(SRC, "tests", "fixtures", "v2-quota-1.5")
        with open(cf, "w") as f:
            f.write(f"target = self\ntarget = root:{fixture}\ninterval = 250ms\npublish = {pub}\n")
        wrapper = os.path.join(tmp, "vg-daemon")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec {vg} --quiet --error-exitcode=3 --leak-check=full '
                    f'--errors-for-leak-kinds=definite --log-file={log} {DAEMON} "$@"\n')
        os.chmod(wrapper, 0o755)
        d = Daemon(wrapper, ["--config", cf])
        try:
            check(wait_for(lambda: d.get("/readyz")[0] == 200, 60), "ready under valgrind")
            for path in ("/metrics", "/v1/limits", "/healthz", "/nope"):
                st, _ = d.get(path)
                check(st in (200, 404), f"{path}: {st}")
            with open(cf, "a") as f:
                f.write("target = pid:1\n")
            d.proc.send_signal(signal.SIGHUP)
            check(d.wait_log(r"reloaded: 3 targets", 30), "reload under valgrind")
            check(wait_for(lambda: '"pid:1"' in d.get("/v1/limits")[1], 30), "the new target served")
            d.get("/metrics")
            d.proc.send_signal(signal.SIGTERM)
            try:
                rc = d.proc.wait(60)
            except subprocess.TimeoutExpired:
                rc = None
        finally:
            d.kill()
        with open(log, errors="replace") as f:
            report = f.read()
        errors = len(re.findall(r"^==\d+== (Invalid|Conditional|Use of uninit|Syscall param|"
                                r"Mismatched|Source and destination)", report, re.M))
        check(rc == 0 and errors == 0, f"valgrind: exit {rc}, {errors} error reports")
        if rc != 0 or errors:
            print(report[:6000])


main(run)
