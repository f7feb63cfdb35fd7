#!/bin/sh
# SPDX-License-Identifier: MIT
# Build every parser's fuzz target with clang's libFuzzer + ASan + UBSan and run each for a bounded
# time.  Usage: tests/fuzz/run-fuzzers.sh [SECONDS=60] [TARGET...]
# Inputs up to AP_FUZZ_MAX_LEN bytes (default 1 MiB: mountinfo of a big host is ~100 KiB, and the
# probes read files up to AP_PROBE_MAX_FILE).
# Targets: proc-cgroup mountinfo cpu-max cpu-list cpu-stat psi json.  Corpora grow in
# tests/fuzz/corpus-<target>/ (git-ignored), seeded from tests/fuzz/seeds/<target>/; a finding is
# written to tests/fuzz/crash-<target>-* and makes the script exit 1.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${AP_FUZZ_BUILD:-$top/build-fuzz}
cc=${CC_FUZZ:-clang}
targets=${*:-proc-cgroup mountinfo cpu-max cpu-list cpu-stat psi json}

case $secs in
''|*[!0-9]*) echo "run-fuzzers.sh: SECONDS must be a number, got '$secs'" >&2; exit 2 ;;
esac
command -v "$cc" >/dev/null || { echo "run-fuzzers.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$out"

# The parsers and their helpers only: no file of other modules, no config.h needed.
srcs="$top/probes/*.c $top/lib/util/parse.c $top/lib/util/fileio.c $top/lib/util/open-beneath.c $top/lib/util/path.c $top/lib/util/json.c"
failed=""
for t in $targets; do
        src="$here/fuzz-$t.c"
        [ -f "$src" ] || { echo "run-fuzzers.sh: no target '$t'" >&2; exit 2; }
        echo "== fuzz-$t: build"
        # shellcheck disable=SC2086
        "$cc" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -I"$top" -I"$top/lib/include" \
                "$src" $srcs -o "$out/fuzz-$t"
        mkdir -p "$here/corpus-$t"
        echo "== fuzz-$t: run ${secs}s"
        if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/fuzz-$t" \
                -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="${AP_FUZZ_MAX_LEN:-1048576}" \
                -print_final_stats=1 -artifact_prefix="$here/crash-$t-" \
                "$here/corpus-$t" "$here/seeds/$t" 2>"$out/fuzz-$t.log"; then
                tail -40 "$out/fuzz-$t.log" >&2
                failed="$failed $t"
        else
                grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/fuzz-$t.log" | tail -2
        fi
done
if [ -n "$failed" ]; then
        echo "fuzzers FAILED:$failed (inputs in tests/fuzz/crash-*)" >&2
        exit 1
fi
echo "fuzzers: all clean ($targets; ${secs}s each)"
