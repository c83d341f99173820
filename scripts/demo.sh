#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), then runs `peyk demo`:
# the all-in-one server with simulated couriers; it prints the panel URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec ./build/peyk demo "$@"
