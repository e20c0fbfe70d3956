#!/usr/bin/env bash
# The browser tests alone, in one command: installs what they need (scripts/deps.sh,
# scripts/browser-deps.sh), builds rrstore (debug) if asked or missing, and runs pytest on
# Tests/browser with the arguments given (e.g. `-k viewer`, or a file). CI=true makes a
# missing browser fail instead of skip. RRSTORE_VIEWER_SCREENSHOT=DIR keeps the viewer's
# pictures (the README's are in docs/).
# Usage: scripts/browser-tests.sh [--build] [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/browser-deps.sh
if [ "${1:-}" = "--build" ] || [ ! -x .build/debug/rrstore ]; then
  [ "${1:-}" = "--build" ] && shift
  RRSTORE_OPTIMIZE_TESTS=1 swift build --build-tests
fi
exec python3 -m pytest -q "${@:-Tests/browser}"
