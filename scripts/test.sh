#!/usr/bin/env bash
# Runs every test: installs what is missing, builds once (tests included), runs the suite.
# Usage: scripts/test.sh [extra swift test arguments, e.g. --filter Corpus]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
# Chromium, its driver, Selenium and the rrweb recorder and player the browser tests use.
scripts/browser-deps.sh

# Optimize the core, the server and their tests in this debug build (see Package.swift).
export RRSTORE_OPTIMIZE_TESTS=1

# The corpus the tests run on lives beside the repository.
if [ ! -d ../shared/corpus ]; then
  echo "test: ../shared/corpus is missing: the corpus tests need it beside the repository" >&2
  exit 1
fi

# Build once with the tests: a plain 'swift build' first would make the test build start over.
swift build --build-tests

# Real servers on loopback (moto for S3), stopped when this script exits.
. scripts/test-services.sh

swift test --skip-build "$@"

# The live service against its own contract, hostile HTTP against both store pairs, the
# browser tests, and the fuzz targets: the committed seeds replayed, then a bounded libFuzzer run of each (all
# skipped when only some tests were asked for).
if [ $# -eq 0 ]; then
  scripts/schemathesis.sh
  python3 -m pytest -q Tests/hostile
  # The original client and viewer, URL-mode replays of the corpus, and rrstore's viewer,
  # in headless Chromium (scripts/browser-tests.sh runs them alone).
  python3 -m pytest -q Tests/browser
  for target in $(ls Fuzz/corpus); do .build/debug/rrstore-fuzz "$target" Fuzz/corpus/"$target"; done
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
