#!/usr/bin/env bash
# Backfill throughput on the shared corpus, paired in one run: `rrstore backfill` of every
# session into a fresh `rrstore serve` (embedded store, empty data directory each time),
# alternating, round by round:
#   before   BEFORE_BINARY as server and client (the release before batch uploads and packs)
#   puts     this release, one PUT per missing asset (--upload-batch-bytes 0)
#   batches  this release, missing assets in POST /assets/batch requests (the default)
# Timed: the backfill command alone (the server is started before and stopped after).
# Writes benchmarks/results/backfill-throughput.md.
# Usage: benchmarks/backfill-throughput.sh BINARY BEFORE_BINARY [CORPUS_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$1"
before="$2"
corpus="${3:-../shared/corpus}"
rounds="${4:-5}"
work="$(mktemp -d "${TMPDIR:-/tmp}/rrstore-backfill-bench.XXXXXX")"
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

# Runs one backfill with BIN against a fresh server of BIN; prints "seconds requests".
run_once() {  # BIN EXTRA_BACKFILL_ARGS...
  local bin="$1"; shift
  rm -rf "$work/data" "$work/checkpoint"
  env -u RRSTORE_DATA "$bin" serve --port 0 --data "$work/data" --log-level notice > "$work/serve.log" 2>&1 &
  server=$!
  local port=""
  for _ in $(seq 1 200); do
    port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log" | head -1)"
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "backfill-throughput: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
  local started ended
  started=$(date +%s.%N)
  "$bin" backfill "$corpus" --server "http://127.0.0.1:$port" --checkpoint "$work/checkpoint" --json "$@" > "$work/summary.json"
  ended=$(date +%s.%N)
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(float(sys.argv[3]) - float(sys.argv[2]), s.get("upload_requests", s["assets_uploaded"]), s["raw_bytes"])' \
    "$work/summary.json" "$started" "$ended"
}

: > "$work/times"
for round in $(seq 1 "$rounds"); do
  echo "before $(run_once "$before")" >> "$work/times"
  echo "puts $(run_once "$binary" --upload-batch-bytes 0)" >> "$work/times"
  echo "batches $(run_once "$binary")" >> "$work/times"
  echo "round $round of $rounds done" >&2
done

python3 - "$work/times" "$binary" "$before" "$rounds" <<'PY'
import collections, datetime, os, statistics, sys
times, binary, before, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
runs = collections.defaultdict(list)
requests, raw = {}, 0
for line in open(times):
    name, seconds, reqs, raw_bytes = line.split()
    runs[name].append(float(seconds)); requests[name] = int(reqs); raw = int(raw_bytes)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
base = statistics.median(runs["before"])
lines = [
    "# Backfill throughput on the shared corpus (issue 15)", "",
    f"Machine: {os.cpu_count()} cores, {cpu}; {datetime.date.today()}. Command: `benchmarks/backfill-throughput.sh {binary} {before} ../shared/corpus {rounds}`.",
    f"Each run: `rrstore backfill` of all sessions ({raw / 1e6:.1f} MB of raw events) into a fresh `rrstore serve` (files + SQLite, empty),",
    "the three variants alternating round by round; the backfill alone is timed. *before* is the release before",
    "batch uploads and packs (server and client), built from commit 11bade3.", "",
    "| variant | upload requests | median s | runs (s) | MB/s | × before |",
    "|---|---:|---:|---|---:|---:|",
]
for name, label in [("before", "before (one PUT per asset, loose objects)"), ("puts", "this release, `--upload-batch-bytes 0` (one PUT per asset, packs)"),
                    ("batches", "this release, batches (`POST /assets/batch`, packs)")]:
    median = statistics.median(runs[name])
    lines.append(f"| {label} | {requests[name]} | {median:.2f} | {', '.join(f'{t:.2f}' for t in runs[name])} | {raw / median / 1e6:.0f} | {base / median:.2f} |")
lines.append("")
open("benchmarks/results/backfill-throughput.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
