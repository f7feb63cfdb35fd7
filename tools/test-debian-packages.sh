#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Debian packages (dpkg-buildpackage -us -uc -b on a copy of the tree), install them on
# this machine, use them as a user would (autoprocs detect, the man pages, the daemon started from
# the installed unit's ExecStart line and scraped on 127.0.0.1, a program linked against the
# static library), then purge them.  Needs root (apt-get), debhelper and the build dependencies
# (tools/setup-debian.sh --all).  Prints "debian-packages: ok" at the end; exits non-zero on any
# failure, after purging.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
work=$(mktemp -d /tmp/autoprocs-deb-XXXXXX)
pkgs=(autoprocs autoprocsd libautoprocs0 libautoprocs-dev)
daemon_pid=
fail() { echo "debian-packages: FAIL: $*" >&2; exit 1; }
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
for p in "${pkgs[@]}"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
                fail "$p is already installed on this machine: refusing to replace and purge it"
        fi
done

echo "debian-packages: building in $work"
mkdir "$work/autoprocs"
git ls-files -z | tar --null -cf - -T - | tar -C "$work/autoprocs" -xf -
(cd "$work/autoprocs" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
        { tail -n 40 "$work/build.log" >&2; fail "dpkg-buildpackage"; }
debs=()
for p in "${pkgs[@]}"; do
        f=$(ls "$work"/"${p}"_*.deb 2>/dev/null | head -n 1)
        [ -n "$f" ] || fail "no ${p}_*.deb built"
        debs+=("$f")
done
echo "debian-packages: built ${debs[*]##*/}"

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null ||
        fail "installing the packages"

# The CLI, its man page and completion, as installed.
[ "$(command -v autoprocs)" = /usr/bin/autoprocs ] || fail "autoprocs is not /usr/bin/autoprocs"
out=$(autoprocs detect) || fail "autoprocs detect"
grep -q '^recommended: ' <<<"$out" || fail "autoprocs detect printed no recommendation: $out"
autoprocs detect --json | grep -q '"affinity_source":' || fail "autoprocs detect --json"
for page in autoprocs.1 autoprocsd.8 autoprocsd.conf.5 libautoprocs.3; do
        f=/usr/share/man/man${page##*.}/$page.gz
        [ -s "$f" ] || fail "$f missing"
done
[ -s /usr/share/bash-completion/completions/autoprocs ] || fail "bash completion missing"

# The daemon, started from the unit's ExecStart line (the unit's EnvironmentFile would set the
# address: a free port on 127.0.0.1 here), scraped, stopped.
unit=/lib/systemd/system/autoprocsd.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart= in $unit"
log="$work/daemon.log"
AUTOPROCSD_LISTEN=127.0.0.1:0 $exec_start >"$log" 2>&1 &
daemon_pid=$!
url=
for _ in $(seq 1 300); do
        url=$(sed -n 's|.*serving metrics on \(http://127\.0\.0\.1:[0-9]*/metrics\).*|\1|p' "$log" | head -n 1)
        [ -n "$url" ] && break
        kill -0 "$daemon_pid" 2>/dev/null || { cat "$log" >&2; fail "the daemon exited"; }
        sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; fail "the daemon did not say where it serves"; }
metrics=$(curl -fsS "$url") || fail "GET $url"
grep -q '^autoprocs_build_info{.*} 1' <<<"$metrics" || fail "no autoprocs_build_info in /metrics"
grep -q '^autoprocs_recommended_procs{target="self"}' <<<"$metrics" || fail "no recommendation in /metrics"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the daemon did not stop cleanly on SIGTERM"
daemon_pid=

# The -dev package: a program against the shared and against the static library.
cat >"$work/t.c" <<'EOF'
#include <autoprocs.h>
#include <stdio.h>
int main(void) { printf("%u\n", autoprocs_available_procs()); return 0; }
EOF
# shellcheck disable=SC2046
cc -o "$work/t-shared" "$work/t.c" $(pkg-config --cflags --libs autoprocs) || fail "linking the shared library"
# shellcheck disable=SC2046
cc -static -o "$work/t-static" "$work/t.c" $(pkg-config --static --cflags --libs autoprocs) ||
        fail "linking the static library"
n1=$("$work/t-shared") && n2=$("$work/t-static") || fail "running the linked programs"
[ "$n1" -ge 1 ] && [ "$n1" = "$n2" ] || fail "available procs: shared $n1, static $n2"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" >/dev/null || fail "purging"
for p in "${pkgs[@]}"; do
        ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || fail "$p still installed"
done
echo "debian-packages: ok (detect, man pages, daemon from ExecStart scraped at $url, shared and static link: $n1 procs)"
