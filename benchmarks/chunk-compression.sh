#!/usr/bin/env bash
# Event chunks: gzip -9 (format 1) against zstd levels (format 2) on what the flusher
# compresses: the rewritten events of every corpus session as NDJSON (`rrstore rewrite`),
# each session's events one stream, as a chunk of an idle recording is. Sizes, and the
# time to compress all sessions (best of 5, one core), with the same libraries rrstore
# links (zlib's gzip CLI, libzstd's zstd CLI, single-threaded).
# Usage: benchmarks/chunk-compression.sh RRSTORE_BINARY CORPUS_DIR OUT.md
set -euo pipefail
binary=$1 corpus=$2 out=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for f in "$corpus"/*/session-*.json.gz; do
  "$binary" rewrite --assets "$work/assets" "$f" > "$work/$(basename "$(dirname "$f")")-$(basename "$f" .json.gz).ndjson" 2>/dev/null
done
raw=$(cat "$work"/*.ndjson | wc -c)
measure() {  # NAME COMMAND...: bytes and best time over the sessions
  local name=$1; shift
  local best=999999 bytes=0
  for _ in 1 2 3 4 5; do
    local start end total=0
    start=$(date +%s%N)
    for f in "$work"/*.ndjson; do total=$((total + $(taskset -c 0 "$@" < "$f" | wc -c))); done
    end=$(date +%s%N)
    local ms=$(( (end - start) / 1000000 ))
    [ "$ms" -lt "$best" ] && best=$ms
    bytes=$total
  done
  printf '| %s | %d | %.3f | %d |\n' "$name" "$bytes" "$(echo "$bytes / $raw" | bc -l)" "$best"
}
{
  echo "# Event chunk compression (format 1 gzip -9 vs format 2 zstd)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date +%F); $(zstd --version | head -1); \`benchmarks/chunk-compression.sh\`."
  echo "$(ls "$work"/*.ndjson | wc -l) sessions' rewritten events, $raw bytes of NDJSON; ms: best of 5, all sessions, one core (process start included, the same for every row)."
  echo
  echo "| how | bytes | × raw | ms |"
  echo "|---|---:|---:|---:|"
  measure "cat (the anchor: process start and pipes only)" cat
  measure "gzip -9 (format 1)" gzip -9 -c
  for level in 3 4 5 6 9; do measure "zstd -$level" zstd -q -T1 -$level -c; done
  # Would a per-tenant dictionary pay (issue 15, point 6)? Trained on the first half of each
  # site's sessions (what a tenant stored before), used on the second half, its own stored
  # size counted against what it saves.
  mkdir -p "$work/earlier" "$work/later"
  for f in "$work"/*.ndjson; do
    n=$(basename "$f" .ndjson); n=${n##*session-}
    if [ "$((10#$n))" -le 6 ]; then cp "$f" "$work/earlier/"; else cp "$f" "$work/later/"; fi
  done
  later_raw=$(cat "$work"/later/*.ndjson | wc -c)
  echo
  echo "Dictionaries: trained on sessions 1–6 of each site (split into 4 KiB samples), used on sessions 7–12 ($later_raw bytes);"
  echo "*stored* adds the dictionary itself (zstd -19), kept once per tenant."
  echo
  echo "| how, sessions 7–12 | bytes | stored | × without |"
  echo "|---|---:|---:|---:|"
  plain=0; for f in "$work"/later/*.ndjson; do plain=$((plain + $(zstd -q -T1 -3 -c < "$f" | wc -c))); done
  printf '| zstd -3, no dictionary | %d | %d | 1.000 |\n' "$plain" "$plain"
  split -b 4096 -a 4 <(cat "$work"/earlier/*.ndjson) "$work/sample-"
  for size in 16 64 112; do
    zstd -q --train "$work"/sample-* --maxdict=$((size * 1024)) -o "$work/dict-$size" >/dev/null 2>&1
    with=0; for f in "$work"/later/*.ndjson; do with=$((with + $(zstd -q -T1 -3 -D "$work/dict-$size" -c < "$f" | wc -c))); done
    stored=$((with + $(zstd -q -19 -c < "$work/dict-$size" | wc -c)))
    printf '| zstd -3, %d KiB dictionary | %d | %d | %.3f |\n' "$size" "$with" "$stored" "$(echo "$stored / $plain" | bc -l)"
  done
} > "$out"
cat "$out"
