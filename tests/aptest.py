# SPDX-License-Identifier: MIT
"""Shared by the Python test runners: print each check's result and the closing line."""


def report(suite, results, failed=0):
    """Print "ok NAME" / "FAIL NAME" plus its reasons for each (name, errors) pair, then
    "SUITE: N passed, N failed"; @failed counts failures found before the checks ran.
    Returns the exit status (0 all passed, 1 otherwise)."""
    passed = 0
    for name, errs in results:
        if errs:
            failed += 1
            print("FAIL %s" % name)
            for e in errs:
                print("     %s" % e)
        else:
            passed += 1
            print("ok   %s" % name)
    print("%s: %d passed, %d failed" % (suite, passed, failed))
    return 1 if failed else 0
