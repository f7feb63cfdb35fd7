#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every bad input of `autoprocs` and `autoprocsd` gets one line in one style.

Usage: test-cli-errors.py AUTOPROCS AUTOPROCSD FIXTURES_DIR

The style (daemon/cli-options.h): one line on stderr, `autoprocs CMD: --option: what is wrong
(what is expected)`, nothing on stdout, no usage text; exit 2 (detect, autoprocsd) or env(1)'s 125
(exec, run).  Also: the same bad --min gets the same words from detect and exec, --help and
--version work for every subcommand and for autoprocsd, and a quoted value in autoprocsd's config
file loses its quotes.  Standard library only.
"""
import aptest
import os
import re
import subprocess
import sys
import tempfile
import time

STYLE = re.compile(r"^autoprocs (detect|exec|run): ((--[a-z-]+|-[a-z]|'[^']*'): .+|no command given) \(.+\)$")
DAEMON_STYLE = re.compile(r"^autoprocsd: .+$")


def run(argv, timeout=20, env=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def one_line_error(name, argv, status, needle=None, style=STYLE):
    """@argv fails with @status, one line on stderr in the style, naming @needle."""
    errs = []
    rc, out, err = run(argv)
    lines = err.splitlines()
    if rc != status:
        errs.append("exit %s, expected %d (stderr %r)" % (rc, status, err[:300]))
    if len(lines) != 1:
        errs.append("expected one line on stderr, got %d: %r" % (len(lines), err[:400]))
    elif not style.match(lines[0]):
        errs.append("not in the style 'autoprocs CMD: --option: what (expected)': %r" % lines[0])
    if needle and needle not in err:
        errs.append("the message does not name %r: %r" % (needle, err))
    if out.strip():
        errs.append("stdout should be empty, got %r" % out[:200])
    if "Usage:" in err:
        errs.append("usage text printed after an error")
    return (name, errs), (lines[0] if lines else "")


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    cli, daemon, fixtures = sys.argv[1:]
    root = os.path.join(fixtures, "v2-quota-1.5")
    results = []
    ncpu = os.cpu_count() or 1

    cases = [
        # (command, args, status, what the message must name)
        ("detect", ["--bogus"], 2, "--bogus"),
        ("detect", ["--json=1"], 2, "--json"),
        ("detect", ["--min"], 2, "--min"),
        ("detect", ["-x"], 2, "-x"),
        ("detect", ["--root", root, "extra"], 2, "'extra'"),
        ("detect", ["--root", "/nonexistent"], 2, "--root"),
        ("detect", ["--root", root, "--pid", "0"], 2, "--pid"),
        ("detect", ["--root", root, "--pid", "12x"], 2, "--pid"),
        ("detect", ["--root", root, "--policy", "round"], 2, "--policy"),
        ("detect", ["--root", root, "--reserve", "0.00001"], 2, "--reserve"),
        ("detect", ["--cgroup", ""], 2, "--cgroup"),
        ("detect", ["--pid", "2147483646"], 2, "--pid: no process 2147483646"),
        ("detect", ["--interval", "1"], 2, "--interval: only with --watch"),
        ("detect", ["--watch", "--interval", "0"], 2, "--interval"),
        ("detect", ["--watch", "--interval", "soon"], 2, "--interval"),
        ("detect", ["--watch", "--interval", "3601"], 2, "--interval"),
        ("exec", ["--bogus", "--", "true"], 125, "--bogus"),
        ("exec", ["--min"], 125, "--min"),
        ("exec", [], 125, "no command given"),
        ("exec", ["--policy", "round", "--", "true"], 125, "--policy"),
        ("exec", ["--reserve", "x", "--", "true"], 125, "--reserve"),
        ("exec", ["--quiet=yes", "--", "true"], 125, "--quiet"),
        ("run", ["--bogus"], 125, "--bogus"),
        ("run", ["--", "true"], 125, "--cpus"),
        ("run", ["--cpus", "1"], 125, "no command given"),
        ("run", ["--cpus", "0", "--", "true"], 125, "--cpus"),
        ("run", ["--cpus", "1.0001", "--", "true"], 125, "--cpus"),
        ("run", ["--cpus", "1000", "--", "true"], 125, "--cpus"),
        ("run", ["--cpus", str(ncpu + 1), "--", "true"], 125, "CPU"),
        ("run", ["--cpus", "0.005", "--", "true"], 125, "--cpus"),
        ("run", ["--cpus", "1", "--period-us", "10", "--", "true"], 125, "--period-us"),
        ("run", ["--cpus", "1", "--cpuset", "0-x", "--", "true"], 125, "--cpuset"),
        ("run", ["--cpus", "1", "--cpuset", "1-0", "--", "true"], 125, "--cpuset"),
        ("run", ["--cpus", "1", "--cpuset", str(ncpu + 5), "--", "true"], 125, "--cpuset"),
    ]
    for cmd, args, status, needle in cases:
        name = "autoprocs %s %s" % (cmd, " ".join("DIR" if a == root else a for a in args))
        res, _ = one_line_error(name, [cli, cmd] + args, status, needle)
        results.append(res)

    # The same bad --min, the same words (one shared parser).
    msgs = []
    for cmd, extra in (("detect", []), ("exec", ["--", "true"])):
        _, line = one_line_error("min", [cli, cmd, "--min", "-3"] + extra, 2 if cmd == "detect" else 125)
        msgs.append(line.split(": ", 1)[1] if ": " in line else line)
    results.append(("detect and exec word a bad --min alike",
                    [] if msgs[0] == msgs[1] else ["%r != %r" % tuple(msgs)]))

    # --root /proc/PID/root without --pid would describe the caller: refused, naming --pid.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        proc_root = "/proc/%d/root" % sleeper.pid
        if os.access(proc_root + "/", os.R_OK):
            res, line = one_line_error("detect --root /proc/PID/root without --pid",
                                       [cli, "detect", "--root", proc_root], 2, "--pid %d" % sleeper.pid)
            results.append(res)
            rc, out, err = run([cli, "detect", "--pid", str(sleeper.pid)])
            results.append(("detect --pid PID (the suggested form) works",
                            [] if rc == 0 and "recommended:" in out else ["rc %s: %r" % (rc, err)]))
        else:
            print("# %s not readable here: --root /proc/PID/root check skipped" % proc_root)
    finally:
        sleeper.kill()
        sleeper.wait()

    # Unknown or missing subcommand: one line, exit 2.
    for args, needle in (([], "missing command"), (["frob"], "frob")):
        rc, out, err = run([cli] + args)
        results.append(("autoprocs %s" % " ".join(args),
                        [] if rc == 2 and len(err.splitlines()) == 1 and needle in err and "Usage" not in err
                        else ["rc %s %r" % (rc, err)]))

    # --help and --version everywhere.
    for cmd in ("detect", "exec", "run", None):
        argv = [cli] + ([cmd] if cmd else [])
        rc, out, err = run(argv + ["--help"])
        results.append(("%s --help" % " ".join(argv[1:] or ["autoprocs"]),
                        [] if rc == 0 and "Usage: autoprocs" in out and not err else ["rc %s %r" % (rc, err)]))
        rc, out, err = run(argv + ["--version"])
        results.append(("%s --version" % " ".join(argv[1:] or ["autoprocs"]),
                        [] if rc == 0 and re.match(r"^autoprocs \d+\.\d+\.\d+\n$", out) else ["rc %s %r" % (rc, out)]))
    rc, out, err = run([daemon, "--version"])
    results.append(("autoprocsd --version", [] if rc == 0 and out.startswith("autoprocsd ") else [repr(out)]))

    # autoprocsd: exit 2, one line naming the option.
    for args, needle in ((["--bogus"], "--bogus: unknown option"), (["--help=1"], "--help: takes no value"),
                         (["--listen"], "--listen: needs a value"), (["extra"], "unexpected argument")):
        res, _ = one_line_error("autoprocsd " + " ".join(args), [daemon] + args, 2, needle, DAEMON_STYLE)
        results.append(res)

    # A quoted value in the config file is unquoted: the daemon listens on it.
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        conf = os.path.join(tmp, "autoprocsd.conf")
        with open(conf, "w") as f:
            f.write('listen = "127.0.0.1:0"\ntarget = \'self\'\n')
        p = subprocess.Popen([daemon, "--config", conf], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        seen, deadline = b"", time.monotonic() + 30
        try:
            os.set_blocking(p.stderr.fileno(), False)
            while time.monotonic() < deadline and b"serving metrics on http://127.0.0.1:" not in seen:
                if p.poll() is not None:
                    seen += p.stderr.read() or b""
                    break
                seen += p.stderr.read() or b""
                time.sleep(0.05)
        finally:
            p.terminate()
            p.wait(10)
        results.append(("config file: listen = \"127.0.0.1:0\" (quoted) is used",
                        [] if b"serving metrics on http://127.0.0.1:" in seen else [repr(seen[-500:])]))

    return aptest.report("cli-errors", results)


if __name__ == "__main__":
    sys.exit(main())
