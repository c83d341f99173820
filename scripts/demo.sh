#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root), builds what the demo needs (the peyk
# binary and the panel; the tests are built by scripts/test.sh), then runs `peyk demo`:
# the all-in-one server with simulated couriers; it prints the panel URL.
# Arguments go to `peyk demo` (e.g. --couriers 50 --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
echo "demo: starting peyk demo (Ctrl-C stops it)"
exec ./build/peyk demo "$@"
