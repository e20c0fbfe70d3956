#!/usr/bin/env bash
# Private dedup's timing side channel, measured: writes benchmarks/results/upload-timing.md.
# Usage: benchmarks/upload-timing.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
bin="$(scripts/release-build.sh rrstore)"
mkdir -p benchmarks/results
python3 benchmarks/upload-timing.py "$bin" benchmarks/results/upload-timing.md "${1:-200}"
