#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages were built and document every option the programs accept; so do the completions.

Usage: test-man.py AUTOPROCS AUTOPROCSD MAN_BUILD_DIR COMPLETIONS_DIR

The options are read from each program's own --help (autoprocs, autoprocs detect|exec|run,
autoprocsd) plus --help and --version; the config keys from autoprocsd's error for an unknown
key.  Every one must appear in the generated page (roff, escapes removed) and in the bash and zsh
completion files.  With man(1) installed, each page must also render without a warning.
Exits 77 when the pages were not built (no scdoc: meson option man=auto).
"""
import aptest
import os
import re
import shutil
import subprocess
import sys
import tempfile

OPT = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")


def options_of(argv):
    p = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError("%s --help: exit %d" % (" ".join(argv), p.returncode))
    return set(OPT.findall(p.stdout)) | {"--help", "--version"}


def roff_text(path):
    with open(path, encoding="utf-8") as f:
        t = f.read()
    t = t.replace("\\-", "-").replace("\\(em", "-").replace("\\&", "")
    return re.sub(r"\\f[BIRP]|\\f\(..", "", t)


def config_keys(daemon):
    with tempfile.TemporaryDirectory(prefix="autoprocs-test-") as tmp:
        conf = os.path.join(tmp, "c.conf")
        with open(conf, "w") as f:
            f.write("colour = blue\n")
        p = subprocess.run([daemon, "--config", conf], capture_output=True, text=True, timeout=20)
    m = re.search(r"\(expected ([^)]*)\)", p.stderr)
    if not m:
        raise RuntimeError("no list of keys in %r" % p.stderr)
    return [k.strip() for k in re.split(r",| or ", m.group(1)) if k.strip()]


def missing(text, words, where):
    return ["%s does not mention %s" % (where, w) for w in sorted(words)
            if not re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", text)]


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    cli, daemon, man_dir, comp_dir = sys.argv[1:]
    pages = {p: os.path.join(man_dir, p) for p in
             ("autoprocs.1", "autoprocsd.8", "autoprocsd.conf.5", "libautoprocs.3")}
    if not all(os.path.isfile(p) for p in pages.values()):
        print("SKIP: man pages not built (scdoc missing; meson option man=auto)")
        return 77
    results = []
    cli_opts = set()
    for cmd in (None, "detect", "exec", "run"):
        cli_opts |= options_of([cli] + ([cmd] if cmd else []))
    daemon_opts = options_of([daemon])
    results.append(("autoprocs(1) documents every option of autoprocs (%d)" % len(cli_opts),
                    missing(roff_text(pages["autoprocs.1"]), cli_opts, "autoprocs.1")))
    results.append(("autoprocsd(8) documents every option of autoprocsd (%d)" % len(daemon_opts),
                    missing(roff_text(pages["autoprocsd.8"]), daemon_opts, "autoprocsd.8")))
    keys = config_keys(daemon)
    results.append(("autoprocsd.conf(5) documents every key (%s)" % ", ".join(keys),
                    missing(roff_text(pages["autoprocsd.conf.5"]), keys, "autoprocsd.conf.5")))
    results.append(("libautoprocs(3) documents the one-call API and the watcher",
                    missing(roff_text(pages["libautoprocs.3"]),
                            ["autoprocs_available_procs", "autoprocs_watch_start", "autoprocs_watch_stop",
                             "autoprocs_detect", "autoprocs_init"], "libautoprocs.3")))
    for name, opts in (("autoprocs.bash", cli_opts), ("autoprocsd.bash", daemon_opts), ("_autoprocs", cli_opts | daemon_opts)):
        with open(os.path.join(comp_dir, name)) as f:
            text = f.read()
        results.append(("completion %s offers every option" % name,
                        missing(text, opts - {"--"}, name)))
    if shutil.which("man"):
        for page, path in sorted(pages.items()):
            p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", path], capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, MANWIDTH="80"))
            results.append(("man -l %s renders without warnings" % page,
                            [] if p.returncode == 0 and not p.stderr.strip() and "NAME" in p.stdout
                            else ["exit %d: %s" % (p.returncode, p.stderr.strip()[:400])]))
    else:
        print("# man(1) not installed: rendering not checked")
    return aptest.report("man", results)


if __name__ == "__main__":
    sys.exit(main())
