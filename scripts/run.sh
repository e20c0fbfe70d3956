#!/usr/bin/env bash
# Rewrites a recording into ./rrstore-data (rewritten events + content-addressed assets),
# and puts it back together (rehydrated NDJSON: the original events, one per line).
# Usage: scripts/run.sh [SESSION.json.gz] (default: the first corpus session)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
swift build -c release --product rrstore
bin="$(swift build -c release --show-bin-path)/rrstore"

input="${1:-../shared/corpus/debian-handbook/session-001.json.gz}"
data=./rrstore-data
mkdir -p "$data"
name="$(basename "$input")"
name="${name%%.*}"

"$bin" rewrite --assets "$data/assets" "$input" > "$data/$name.rewritten.ndjson"
"$bin" rehydrate --assets "$data/assets" "$data/$name.rewritten.ndjson" > "$data/$name.rehydrated.ndjson"

echo "rewritten events: $data/$name.rewritten.ndjson ($(wc -c < "$data/$name.rewritten.ndjson") bytes)"
echo "assets:           $data/assets ($(du -sb "$data/assets" | cut -f1) bytes)"
echo "rehydrated:       $data/$name.rehydrated.ndjson ($(wc -c < "$data/$name.rehydrated.ndjson") bytes)"
