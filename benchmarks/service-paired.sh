#!/usr/bin/env bash
# The service benchmark (benchmarks/service-bench.py: asset PUT/GET, ingest, RSS, a 1 GB
# recording, each with nginx as the anchor in the same run) for two binaries, run
# alternately (before, after, after, before): the machine drifts between runs, so each run's
# ratio to its own nginx is the figure to compare. Writes OUT (benchmarks/results/service-paired.md
# unless given), headed by TITLE (what changed between the two).
# Usage: benchmarks/service-paired.sh BEFORE_BINARY AFTER_BINARY [TITLE] [OUT]   (needs wrk and nginx)
# Build both binaries the same way, with scripts/release-build.sh (static Swift runtime): a plain
# `swift build -c release` links libswiftCore dynamically and ingested ~7% slower here, which a
# pairing would show as the change's cost.
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"
title="${3:-The service before and after packs and batch uploads (issue 15)}"
out="${4:-benchmarks/results/service-paired.md}"
work="$(mktemp -d "${TMPDIR:-/tmp}/rrstore-service-paired.XXXXXX")"
trap 'rm -rf "$work"' EXIT
n=0
for bin in "$before" "$after" "$after" "$before"; do
  n=$((n + 1))
  python3 benchmarks/service-bench.py "$bin" "$work/run-$n.md"
  echo "service-paired: run $n of 4 done" >&2
done
python3 - "$work" "$before" "$after" "$title" "$out" <<'PY'
import datetime, json, os, re, sys
work, before, after, title, out = sys.argv[1:]
runs = []
for n in range(1, 5):
    text = open(f"{work}/run-{n}.md").read()
    runs.append(json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1)))
order = ["before", "after", "after", "before"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def cell(r, key):
    a, b = r[key]["rrstore"]["rps"], r[key]["nginx"]["rps"]
    return f"{a / b:.2f} ({a:,.0f})"
def side(name, key):
    return "; ".join(cell(r, key) for r, o in zip(runs, order) if o == name)
lines = [
    f"# {title}, paired", "",
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} cores: `benchmarks/service-paired.sh {before} {after}`, four whole",
    "runs of `benchmarks/service-bench.py` one after the other (before, after, after, before), each with its nginx anchor",
    "in the same run. Cells: × nginx (rrstore req/s); the ratio is the figure to compare.", "",
    "| row | before × nginx (req/s) | after × nginx (req/s) |", "|---|---|---|",
]
for label, key in [("asset PUT, 64 KiB, 16 connections", "asset_put"), ("asset GET, 64 KiB, 16 connections", "asset_get"),
                   ("ingest, 16 connections", "ingest_16"), ("ingest, 100 connections", "ingest_100")]:
    lines.append(f"| {label} | {side('before', key)} | {side('after', key)} |")
def joined(name, value):
    return "; ".join(value(r) for r, o in zip(runs, order) if o == name)
rows = [
    ("ingest events/s, 16 connections", lambda r: format(round(r["ingest_16"]["rrstore"]["rps"] * r["batch"]["events"]), ",")),
    ("1 GB recording read back, MB/s (peak RSS MB)", lambda r: "%s (%s)" % (r["big_recording"]["read_mb_s"], r["big_recording"]["peak_rss_mb"])),
    ("peak RSS, 100 posting connections, MB", lambda r: str(r["rss_100_clients_mb"])),
]
for label, value in rows:
    lines.append(f"| {label} | {joined('before', value)} | {joined('after', value)} |")
lines.append("")
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY
