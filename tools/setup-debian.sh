#!/usr/bin/env bash
# Install the Debian 12 packages autoprocs builds, tests and benchmarks with.  Idempotent.
# Usage: tools/setup-debian.sh [--all] [--container] [--vm]
#   --all adds the test/benchmark tools (Go, promtool, wrk, clang); --container the container engine
#   suite's (tests/container/run.sh: Debian's docker.io, mmdebstrap for the base image).
#   --vm the cgroup v2 VM suite's (tests/vm: qemu-system-x86, busybox-static).
set -euo pipefail
base=(meson ninja-build pkg-config gcc libc6-dev libsystemd-dev libmicrohttpd-dev zlib1g-dev libcgroup-dev check curl)
extra=(python3-jsonschema scdoc bash-completion debhelper dpkg-dev fakeroot binutils golang-go golang-uber-automaxprocs-dev prometheus wrk clang libclang-rt-14-dev systemd python3 valgrind)
container=(docker.io mmdebstrap util-linux)
# The cgroup v2 VM suite (tests/vm): qemu (TCG) and busybox-static; the kernel is fetched by the test.
vm=(qemu-system-x86 busybox-static util-linux)
want=("${base[@]}")
for a in "$@"; do
        case "$a" in
        --all) want+=("${extra[@]}") ;;
        --container) want+=("${container[@]}") ;;
        --vm) want+=("${vm[@]}") ;;
        *) echo "setup: unknown option $a (expected --all, --container, --vm)" >&2; exit 2 ;;
        esac
done
missing=()
for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo=sudo
        echo "setup: installing ${missing[*]}" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
