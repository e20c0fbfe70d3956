#!/usr/bin/env bash
# Runs the service on its embedded default: filesystem blobs + SQLite under ./rrstore-data,
# listening on http://127.0.0.1:8080. Ctrl-C (or SIGTERM) shuts it down gracefully:
# requests in flight finish and pending events are flushed into chunks.
# Usage: scripts/run.sh [rrstore serve flags, e.g. --port 9000 --cors-origin '*']
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
bin="$(scripts/release-build.sh rrstore)"
exec "$bin" serve "$@"
