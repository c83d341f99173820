#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds, and runs every test:
# C++ unit tests (ctest), integration tests against real processes (pytest), and the
# panel's tests (vitest, then Playwright in Debian's Chromium).
# Prints one closing line: "tests: N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/tests/artifacts"
rm -rf "$OUT" && mkdir -p "$OUT/junit"

PEYK_WERROR=ON scripts/setup.sh || { echo "tests: 0 passed, 1 failed (setup/build)"; exit 1; }

status=0
echo "== unit tests (ctest)"
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 120 \
  --output-junit "$OUT/junit/ctest.xml" || status=1

echo "== integration tests (pytest, real peyk processes)"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
  --junitxml="$OUT/junit/integration.xml" || status=1

if [ -f web/package.json ]; then
  echo "== panel tests (vitest)"
  (cd web && npx vitest run --reporter=default --reporter=junit \
     --outputFile.junit="$OUT/junit/web-unit.xml") || status=1
  if [ -d tests/browser ]; then
    echo "== browser tests (playwright-core + Debian chromium)"
    (cd web && node --test --test-reporter=spec --test-reporter=junit \
       --test-reporter-destination=stdout --test-reporter-destination="$OUT/junit/browser.xml" \
       ../tests/browser/) || status=1
  fi
fi

/usr/bin/python3 scripts/junit_summary.py "$OUT/junit" || status=1
exit $status
