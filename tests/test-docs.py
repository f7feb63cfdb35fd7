#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The reference pages match the code they describe.

- docs/metrics.md names exactly the metric families the daemon's code can emit
  (daemon/autoprocsd/*.c), so a new family without documentation, or a documented one that is
  gone, fails here;
- nothing in the repository points to documents outside it (the specification folder beside
  the checkout, or its CONTRACT, STYLE and research files).
"""
import pathlib
import re
import subprocess
import sys

SRC = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
DOC_FAMILY = re.compile(r"^\| `((?:autoprocs|process)_[a-z0-9_]+)` \|", re.M)


def code_families():
    names = set()
    for f in sorted((SRC / "daemon" / "autoprocsd").glob("*.c")):
        text = f.read_text()
        for m in re.finditer(r'family_begin\(&?\w+, &?\w+, \w+, "([a-z0-9_]+)"|\{ "([a-z0-9_]+)", FAMILY_', text):
            names.add(m.group(1) or m.group(2))
    return names


def main():
    failures = []
    code = code_families()
    if len(code) < 30:
        failures.append(f"only {len(code)} families found in daemon/autoprocsd/*.c: the scan is broken")
    doc = set(DOC_FAMILY.findall((SRC / "docs" / "metrics.md").read_text()))
    for n in sorted(code - doc):
        failures.append(f"docs/metrics.md: family {n} is emitted by the daemon but not documented")
    for n in sorted(doc - code):
        failures.append(f"docs/metrics.md: family {n} is documented but the daemon has no such family")

    grep = subprocess.run(["git", "-C", str(SRC), "grep", "-n", "-E",
                           r"\.\./" + "shared|" + r"shared/|research/[a-z-]+\.md|CONTRACT-[a-z]+\.md|STYLE\.md", "--", ".",
                           ":!tests/test-docs.py"], capture_output=True, text=True)
    if grep.returncode not in (0, 1):
        print(f"test-docs: git grep failed: {grep.stderr.strip()}", file=sys.stderr)
        return 77
    for line in grep.stdout.splitlines():
        failures.append(f"points outside the repository: {line}")

    for f in failures:
        print(f"FAIL {f}")
    print(f"{len(code)} families in the code, {len(doc)} documented; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
