#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The container engine suite (meson suite "container"): starts a private dockerd (no bridge, no
# iptables, its own data root, exec root, pidfile and socket; never the system's), makes the
# debian:12 base image locally with mmdebstrap (no registry is reachable), builds
# deploy/Containerfile as written, runs `meson test --setup container --suite container` against
# that engine and stops what it started, also on failure.
# Usage: tests/container/run.sh [BUILDDIR]   (as root; packages: tools/setup-debian.sh --container)
# Exit: meson's status; 77 when the engine cannot run on this machine (the reason is printed).
# Environment: AP_DEBIAN_MIRROR (default: the host's first Debian mirror), AP_CONTAINER_KEEP=1
# keeps the engine's data root (images, build cache) under BUILDDIR/container for the next run.
set -euo pipefail
cd "$(dirname "$0")/../.."
builddir=$(realpath "${1:-build}")
state=$builddir/container
docker=/usr/bin/docker   # Debian's client: another one earlier on PATH may speak a newer API
start=$(date +%s)
say() { echo "container suite ($(( $(date +%s) - start )) s): $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (it starts its own dockerd)"
for b in dockerd "$docker" containerd runc mmdebstrap nsenter; do
        command -v "$b" >/dev/null || skip "$b is not installed (tools/setup-debian.sh --container)"
done
[ -d "$builddir" ] || { echo "container suite: no build directory $builddir" >&2; exit 1; }
mkdir -p "$state"

# ---- the engine -------------------------------------------------------------------------------
# exec-root holds containerd's sockets: a short path (sun_path has 108 bytes).
exec_root=/run/autoprocs-test-docker-$$
data_root=$state/data
sock=$exec_root/docker.sock
dockerd_pid=
stop_engine() {
        local rc=$? i
        trap - EXIT INT TERM
        if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
                # Our containers first (they carry the label), then the engine, by its pid.
                ids=$("$docker" -H "unix://$sock" ps -aq --filter label=autoprocs-test 2>/dev/null || true)
                [ -z "$ids" ] || "$docker" -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
                kill -TERM "$dockerd_pid" 2>/dev/null || true
                for i in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
                if kill -0 "$dockerd_pid" 2>/dev/null; then
                        say "dockerd $dockerd_pid did not stop in 20 s: killing it"
                        kill -KILL "$dockerd_pid" 2>/dev/null || true
                fi
                wait "$dockerd_pid" 2>/dev/null || true
        fi
        # dockerd's own containerd, if dockerd died without stopping it.
        if [ -f "$exec_root/containerd/containerd.pid" ]; then
                cpid=$(cat "$exec_root/containerd/containerd.pid")
                if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
                        kill -TERM "$cpid" 2>/dev/null || true
                fi
        fi
        # Cgroups the cases made (they remove their own; this catches an interrupted run).
        for d in /sys/fs/cgroup/*/autoprocs-test-docker-* /sys/fs/cgroup/autoprocs-test-docker-*; do
                [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
        done
        # dockerd leaves its netns mount (nsfs) below the exec root: unmount what is ours.
        awk -v r="$exec_root/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
                while read -r m; do umount "$m" 2>/dev/null || true; done
        rm -rf "$exec_root" 2>/dev/null || true
        [ "${AP_CONTAINER_KEEP:-0}" = 1 ] || rm -rf "$data_root" 2>/dev/null || true
        say "engine stopped"
        exit "$rc"
}
trap stop_engine EXIT
trap 'exit 130' INT TERM
mkdir -p "$exec_root" "$data_root"
dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        --data-root "$data_root" --exec-root "$exec_root" --pidfile "$exec_root/dockerd.pid" \
        -H "unix://$sock" --log-level warn >"$state/dockerd.log" 2>&1 &
dockerd_pid=$!
dk() { "$docker" -H "unix://$sock" "$@"; }
deadline=$(( $(date +%s) + 60 ))
until dk version >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
                tail -n 5 "$state/dockerd.log" >&2
                dockerd_pid=
                skip "dockerd exited at start (log above, all of it in $state/dockerd.log)"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
                tail -n 5 "$state/dockerd.log" >&2
                skip "dockerd did not answer on $sock within 60 s"
        fi
        sleep 0.5
done
say "engine $(dk version -f '{{.Server.Version}}') up (cgroup driver $(dk info -f '{{.CgroupDriver}}'), v$(dk info -f '{{.CgroupVersion}}'))"

# ---- the base image: debian:12 from Debian's archive ---------------------------------------------
mirror=${AP_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
        mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
        [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*debian\)\/\? bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
        [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
base_tar=$state/debian-12-minbase.tar
if [ ! -s "$base_tar" ]; then
        say "making debian:12 with mmdebstrap from $mirror"
        # Documentation left out as in Debian's -slim images; the image serves as debian:12 and
        # debian:12-slim (the Containerfile's FROM lines).  force-unsafe-io (no fsync per file),
        # kept in the image's dpkg.cfg.d as Debian's own images have it, also speeds the build's
        # apt-get.
        if ! mmdebstrap --variant=minbase --mode=root --format=tar --dpkgopt=force-unsafe-io \
                        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
                        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
                        bookworm "$base_tar.tmp" "$mirror" >"$state/mmdebstrap.log" 2>&1; then
                tail -n 5 "$state/mmdebstrap.log" >&2
                rm -f "$base_tar.tmp"
                skip "mmdebstrap could not make debian:12 from $mirror (log above)"
        fi
        mv "$base_tar.tmp" "$base_tar"
fi
sum=$(stat -c '%s-%Y' "$base_tar")
if [ "$(dk image inspect -f '{{index .Config.Labels "autoprocs.base"}}' debian:12 2>/dev/null)" != "$sum" ]; then
        dk import --change "LABEL autoprocs.base=$sum" --change 'CMD ["bash"]' "$base_tar" debian:12 >/dev/null
fi
dk tag debian:12 debian:12-slim
say "base image debian:12 ($(dk image inspect -f '{{.Size}}' debian:12) bytes)"

# ---- the image, as a user builds it ---------------------------------------------------------------
# --network host: the build stage's apt-get reaches the mirror as the host does (no bridge here).
say "building deploy/Containerfile"
build() {
        if ! dk build --network host -f deploy/Containerfile "$@" . >>"$state/build.log" 2>&1; then
                tail -n 20 "$state/build.log" >&2
                echo "container suite: docker build -f deploy/Containerfile $* failed (log: $state/build.log)" >&2
                exit 1
        fi
}
: >"$state/build.log"
build -t autoprocsd:test
# The build stage alone (cached layers), for the build-context case.
build --target build -t autoprocsd-build:test
say "image autoprocsd:test built"

# ---- the cases ----------------------------------------------------------------------------------
ninja -C "$builddir" >/dev/null
set +e
AP_DOCKER="$docker" AP_DOCKER_HOST="unix://$sock" AP_IMAGE=autoprocsd:test AP_BASE_IMAGE=debian:12 \
        meson test -C "$builddir" --no-rebuild --setup container --suite container --print-errorlogs \
        ${AP_TEST_ARGS:-}
rc=$?
set -e
say "cases done (meson exit $rc)"
exit $rc
