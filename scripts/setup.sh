#!/usr/bin/env bash
# Installs everything peyk needs on a fresh Debian 12 machine (as root) and builds it.
# Idempotent: packages already present are left alone.
#
# scripts/setup.sh          builds everything: peyk, the unit tests, benchmarks, tools
#                           (what scripts/test.sh needs), then the panel.
# scripts/setup.sh --demo   builds only what `peyk demo` needs: the peyk binary and the
#                           panel (scripts/demo.sh; the tests are built by scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=()
case "${1:-}" in
  --demo) TARGETS=(--target peyk) ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--demo]" >&2; exit 2 ;;
esac
step() { echo "setup: $* ($SECONDS s)"; }

PKGS=(
  build-essential cmake ninja-build pkg-config clang clang-format
  libclang-rt-14-dev llvm   # sanitizer and libFuzzer runtimes (only recommended by clang), llvm-symbolizer
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  libssl-dev libhiredis-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev sqlite3   # history's SQLite backend (--history sqlite:PATH); the CLI to inspect a file
  redis-server redis-tools haproxy curl   # redis-cli, haproxy: the Redis Cluster test (test_cluster.py)
  faketime                                 # an ingest whose clock runs ahead (test_liveness.py)
  libxml2-utils                            # xmllint: GPX output checked against the GPX 1.1 schema
  libpq-dev postgresql-15                  # history --history postgres:// (PROTOCOL.md §7); tests run their own server
  python3 python3-pytest python3-websocket python3-requests python3-jwt python3-redis
  prometheus python3-yaml                  # promtool checks deploy/prometheus/peyk.rules.yml (test_alert_rules.py)
  lintian                                  # the .deb checked (test_deb_package.py; dpkg-shlibdeps comes with build-essential)
  chromium
)
step "checking the Debian packages"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js: the machine's own (with npm) when present, else Debian's.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# redis-server, haproxy and postgres are started by the tests themselves on free ports;
# keep the packaged daemons off (haproxy's would hold :80 with the stock config; only
# prometheus's promtool is used).
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now redis-server haproxy postgresql prometheus >/dev/null 2>&1 || true
fi
# Without systemd (a container), the packages' postinst may have started them by init script.
for svc in redis-server haproxy postgresql prometheus; do
  if [ -x "/etc/init.d/$svc" ] && command -v service >/dev/null 2>&1; then
    service "$svc" status >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1 || true
  fi
done

BUILD_TYPE=${BUILD_TYPE:-Release}
step "configuring build/ (CMake, $BUILD_TYPE)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DPEYK_WERROR="${PEYK_WERROR:-ON}" >/dev/null
if [ ${#TARGETS[@]} -gt 0 ]; then
  step "compiling the peyk server only (no tests or benchmarks) on $(nproc) cores"
else
  step "compiling peyk, its unit tests, benchmarks and tools on $(nproc) cores"
fi
cmake --build build -j"$(nproc)" "${TARGETS[@]}"

# The panel: TypeScript built with Vite from the npm registry (lockfile pinned).
if [ -f web/package.json ]; then
  step "installing the panel's npm packages (npm ci) and building it (vite) into web/dist"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
fi
step "done"
