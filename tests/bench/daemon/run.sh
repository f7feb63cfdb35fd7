#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks of autoprocsd (a script, not a timed test; numbers depend on the machine's load).
#
#   tests/bench/daemon/run.sh [BUILD_DIR] [IDLE_SECONDS]      (defaults: build, 60)
#
# 1. /metrics with 100 targets (100 copies of the fixture tests/fixtures/v1-cpu-cpuacct as
#    root:DIR targets, 1 s interval):
#    a. fixed rate near 1,000 req/s: wrk with rate.lua (each of 10 connections waits 10 ms between
#       requests; wrk2 is not in Debian), 20 s; reports req/s and p50/p90/p99 latency;
#    b. saturation: wrk -t1 -c8, 10 s, no delay: the most req/s one connection thread gets.
# 2. idle cost with 1 target (self) and with 100 targets at a 1 s interval: CPU time over
#    IDLE_SECONDS from /proc/PID/stat (utime+stime), as % of one core and seconds per hour, and
#    VmRSS at the end.
# Targets: p99 < 5 ms at 1,000 req/s; idle CPU < 0.1 % of a core; RSS < 8 MB.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUILD=${1:-build}
IDLE=${2:-60}
DAEMON=$BUILD/daemon/autoprocsd
[ -x "$DAEMON" ] || { echo "bench-daemon: build $DAEMON first (ninja -C $BUILD)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench-daemon: wrk not found (apt-get install wrk)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/autoprocs-bench-daemon-XXXXXX)
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$TMP"
}
trap cleanup EXIT

TARGETS=()
for i in $(seq 1 100); do
        cp -a tests/fixtures/v1-cpu-cpuacct "$TMP/root$i"
        TARGETS+=(--target "root:$TMP/root$i")
done

# start_daemon LOG ARGS...: sets DPID and URL
start_daemon() {
        local log=$1
        shift
        "$DAEMON" --listen 127.0.0.1:0 --interval 1s "$@" 2>"$log" &
        DPID=$!
        PIDS+=("$DPID")
        for _ in $(seq 1 200); do
                URL=$(sed -n 's/.*serving metrics on \(http:[^ ]*\)\/metrics.*/\1/p' "$log" | head -1)
                [ -n "$URL" ] && break
                sleep 0.05
        done
        [ -n "$URL" ] || { echo "bench-daemon: the daemon did not start: $(cat "$log")" >&2; exit 1; }
        for _ in $(seq 1 100); do
                [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
                sleep 0.1
        done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
start_daemon "$TMP/d100.log" "${TARGETS[@]}"
echo "== /metrics with 100 targets: $(curl -s "$URL/metrics" | wc -c) bytes, $(curl -s "$URL/metrics" | grep -vc '^#') samples"
echo "-- fixed rate (wrk -t2 -c10 -d20s, rate.lua DELAY_MS=10)"
DELAY_MS=10 wrk -t2 -c10 -d20s -s tests/bench/daemon/rate.lua "$URL/metrics" | \
        grep -E "Requests/sec|p50_us" | sed 's/^/   /'
echo "-- saturation (wrk -t1 -c8 -d10s --latency)"
wrk -t1 -c8 -d10s --latency "$URL/metrics" | grep -E "Requests/sec| 50%| 99%" | sed 's/^/   /'
kill "$DPID"
wait "$DPID" 2>/dev/null || true

idle() {
        local name=$1
        shift
        start_daemon "$TMP/idle-$name.log" "$@"
        sleep 5
        local t0 c0 t1 c1 hz
        hz=$(getconf CLK_TCK)
        t0=$(date +%s.%N)
        c0=$(cpu_ticks "$DPID")
        sleep "$IDLE"
        c1=$(cpu_ticks "$DPID")
        t1=$(date +%s.%N)
        awk -v c="$((c1 - c0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v rss="$(rss_kb "$DPID")" -v n="$name" \
                'BEGIN { s = c / hz; d = t1 - t0;
                         printf "   idle %-11s cpu %.3f s in %.0f s = %.4f %% of a core = %.1f s/hour; RSS %.1f MB\n",
                                n, s, d, 100 * s / d, 3600 * s / d, rss / 1024 }'
        kill "$DPID"
        wait "$DPID" 2>/dev/null || true
}
echo "== idle, 1 s interval, ${IDLE} s each (clock ticks of $(getconf CLK_TCK) Hz)"
idle "1-target" --target self
idle "100-targets" "${TARGETS[@]}"
