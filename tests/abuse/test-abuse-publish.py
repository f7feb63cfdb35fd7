#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Attacks on --publish DIR, a directory another container can write to.
Usage: test-abuse-publish.py AUTOPROCSD AUTOPROCS SOURCE_ROOT

- the old temp name ".<file>.<pid>.tmp" was predictable and opened without O_EXCL: a hard link
  planted there to a 0600 file outside DIR got it truncated, overwritten and made 0644; a symlink
  there made publishing fail for good (ELOOP).  Now: the outside file stays as it was, both
  targets' files are written;
- symlinks planted at the final names are replaced, their targets untouched;
- two targets mapping to one file are refused at start, naming both;
- a target whose file cannot be written (a directory sits at its name) counts
  autoprocs_publish_errors_total{target} up and makes /readyz 503 until it can be written again.
"""
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from abuselib import Daemon, check, main, metric, wait_for  # noqa: E402

DAEMON, CLI, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
FIXTURE = os.path.join(SRC, "tests", "fixtures", "v2-quota-1.5")


def secret(path):
    with open(path, "w") as f:
        f.write("precious\n")
    os.chmod(path, 0o600)


def intact(path):
    st = os.stat(path)
    with open(path) as f:
        return f.read() == "precious\n" and stat.S_IMODE(st.st_mode) == 0o600


def start_refused(args):
    """Run the daemon expecting a refusal at start: (exit code, stderr); (None, "") if it ran."""
    try:
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0"] + args, capture_output=True,
                           text=True, timeout=5)
        return p.returncode, p.stderr.strip()
    except subprocess.TimeoutExpired:
        return None, ""


def run():
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-abuse-") as tmp:
        pub = os.path.join(tmp, "pub")
        os.mkdir(pub)
        hard_target = os.path.join(tmp, "outside-hard")   # same file system: hard links work
        sym_target = os.path.join(tmp, "outside-sym")
        final_target = os.path.join(tmp, "outside-final")
        for p in (hard_target, sym_target, final_target):
            secret(p)
        root_label = "root:" + FIXTURE
        root_file = "root_" + FIXTURE.replace("/", "_").replace(":", "_") + ".env"
        root_file = "".join(c if c.isalnum() or c in "._-" else "_" for c in root_file[:-4]) + ".env"
        # Planted before the daemon runs, at the names the old code used ($$ = the daemon's pid),
        # and a symlink at one final name.
        prefix = (f'ln "{hard_target}" "{pub}/.{root_file}.$$.tmp"; '
                  f'ln -s "{sym_target}" "{pub}/.self.env.$$.tmp"; '
                  f'ln -s "{final_target}" "{pub}/self.env";')
        d = Daemon(DAEMON, ["--target", "self", "--target", root_label, "--interval", "250ms",
                            "--publish", pub], prefix=prefix)
        try:
            ok = wait_for(lambda: os.path.isfile(os.path.join(pub, "self.env")) and
                          not os.path.islink(os.path.join(pub, "self.env")) and
                          os.path.isfile(os.path.join(pub, root_file)), 10)
            check(ok, f"both files published despite the planted links ({sorted(os.listdir(pub))})")
            check(intact(hard_target), "the file hard-linked at the old temp name is untouched (0600)")
            check(intact(sym_target), "the file symlinked at the old temp name is untouched")
            check(intact(final_target), "the file symlinked at the final name is untouched")
            with open(os.path.join(pub, root_file)) as f:
                body = f.read()
            check("AUTOPROCS_PROCS=2" in body, f"the fixture's file says 2 processors ({body!r})")
            mode = stat.S_IMODE(os.stat(os.path.join(pub, root_file)).st_mode)
            check(mode == 0o644, f"published files are 0644 ({oct(mode)})")
            check(wait_for(lambda: d.get("/readyz")[0] == 200), "/readyz 200 while publishing works")
            _, text = d.get("/metrics")
            check(metric(text, "autoprocs_publish_errors_total", 'target="self"') == 0,
                  "autoprocs_publish_errors_total{target=\"self\"} is 0")
        finally:
            d.kill()

        # A file that cannot be written: a directory at its name.
        pub2 = os.path.join(tmp, "pub2")
        os.makedirs(os.path.join(pub2, "self.env"))
        d = Daemon(DAEMON, ["--target", "self", "--interval", "250ms", "--publish", pub2])
        try:
            def errors():
                return metric(d.get("/metrics")[1], "autoprocs_publish_errors_total", 'target="self"')
            check(wait_for(lambda: (errors() or 0) >= 2, 10),
                  f"a failing publish counts autoprocs_publish_errors_total up ({errors()})")
            st, body = d.get("/readyz")
            check(st == 503 and "self" in body, f"/readyz 503 naming the target ({st} {body.strip()!r})")
            os.rmdir(os.path.join(pub2, "self.env"))
            check(wait_for(lambda: d.get("/readyz")[0] == 200, 10), "/readyz 200 once it can be written")
            check(os.path.isfile(os.path.join(pub2, "self.env")), "... and the file is there")
        finally:
            d.kill()

        # Two targets, one file: refused at start with one line naming both.
        rc, err = start_refused(["--publish", pub, "--target", "root:/t/a/b", "--target", "root:/t/a_b"])
        lines = err.splitlines()
        check(rc == 2 and len(lines) == 1 and "root:/t/a/b" in lines[0] and "root:/t/a_b" in lines[0],
              f"two targets, one file: refused naming both ({rc} {err!r})")
        # The publish directory itself must not be a symlink.
        link = os.path.join(tmp, "publink")
        os.symlink(pub, link)
        rc, err = start_refused(["--publish", link])
        check(rc == 2 and "symbolic link" in err, f"a symlink as the publish directory is refused ({err!r})")


main(run)
