#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every ```c block of README.md compiles as written (cc -fsyntax-only -Wall -Werror against the
public header): the documentation's examples cannot drift from the API.

Usage: test-readme-c.py CC README.md INCLUDE_DIR
"""
import aptest
import re
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().split("\n")[3], file=sys.stderr)
        return 2
    cc, readme, inc = sys.argv[1:]
    with open(readme) as f:
        blocks = re.findall(r"^```c\n(.*?)^```", f.read(), flags=re.S | re.M)
    results = [("README.md has C examples", [] if blocks else ["no ```c block found"])]
    for i, code in enumerate(blocks):
        with tempfile.NamedTemporaryFile("w", suffix=".c", prefix="autoprocs-test-readme-") as f:
            f.write(code)
            f.flush()
            p = subprocess.run([cc, "-std=c11", "-fsyntax-only", "-Wall", "-Werror", "-I", inc, f.name],
                               capture_output=True, text=True, timeout=60)
        first = code.strip().splitlines()[-1][:60] if code.strip() else ""
        results.append(("README C block %d compiles (...%s)" % (i + 1, first),
                        [] if p.returncode == 0 else [p.stderr.strip()[:1500]]))
    return aptest.report("readme-c", results)


if __name__ == "__main__":
    sys.exit(main())
