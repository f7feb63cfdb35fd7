#!/usr/bin/env bash
# Set up (Debian packages), build and run the whole test suite.
# Usage: tools/test.sh [BUILDDIR] [extra meson setup options...]
# Prints meson's summary and a closing line "tests: N passed, N failed[, N skipped]".
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-build}
shift || true
tools/setup-debian.sh --all
if [ ! -d "$builddir" ]; then
        meson setup "$builddir" "$@" >/dev/null
fi
ninja -C "$builddir"
set +e
meson test -C "$builddir" --print-errorlogs ${AP_TEST_ARGS:-} | tee "$builddir/test-summary.txt"
rc=${PIPESTATUS[0]}
set -e
ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$builddir/test-summary.txt" | tail -1)
fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$builddir/test-summary.txt" | tail -1)
tout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$builddir/test-summary.txt" | tail -1)
skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$builddir/test-summary.txt" | tail -1)
echo "tests: ${ok:-0} passed, $(( ${fail:-0} + ${tout:-0} )) failed, ${skip:-0} skipped" |
        tee "$builddir/test-closing-line.txt"
exit $rc
