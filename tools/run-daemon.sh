#!/usr/bin/env bash
# Set up (Debian packages), build, and run autoprocsd in the foreground on localhost.
# Usage: tools/run-daemon.sh [autoprocsd options...]   (default: --listen 127.0.0.1:9464)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
[ $# -gt 0 ] || set -- --listen 127.0.0.1:9464
# The daemon logs the address it serves on (e.g. "serving metrics on http://127.0.0.1:9464/metrics").
exec ./build/daemon/autoprocsd "$@"
