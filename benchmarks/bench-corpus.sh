#!/usr/bin/env bash
# rrstore bench over the shared corpus: all sessions, then each site alone, each run with the
# archival bound (zstd -19 --long=27 over each site's sessions as one stream) measured in the
# same process on the same bytes. Writes benchmarks/results/bench-corpus.{md,json,svg} and
# bench-<site>.json. Sizes do not depend on the machine's load; throughput does.
# Usage: benchmarks/bench-corpus.sh [RRSTORE_BINARY] [CORPUS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/release/rrstore}"
corpus="${2:-../shared/corpus}"
results=benchmarks/results
[ -x "$binary" ] || { echo "bench-corpus: build $binary first (swift build -c release --product rrstore)" >&2; exit 1; }

"$binary" bench --corpus "$corpus" --archival-anchor --json --chart "$results/bench-corpus.svg" > "$results/bench-corpus.json"
sites=()
for site in "$corpus"/*/; do
  name="$(basename "$site")"
  sites+=("$name")
  "$binary" bench --corpus "$site" --archival-anchor --json > "$results/bench-$name.json"
done

python3 - "$results" "$binary" "${sites[@]}" <<'PY'
import json, os, platform, subprocess, sys, datetime
results, binary, sites = sys.argv[1], sys.argv[2], sys.argv[3:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
def row(name, r):
    mb = lambda n: f"{n / 1e6:.2f}"
    return (f"| {name} | {r['sessions']} | {mb(r['raw_bytes'])} | {mb(r['gzip_baseline_bytes'])} | {mb(r['archival_zstd_bytes'])} | "
            f"{mb(r['stored_bytes'])} ({mb(r['stored_asset_bytes'])} + {mb(r['stored_chunk_bytes'])} + {mb(r['stored_metadata_bytes'])}) | "
            f"{mb(r['disk_usage_bytes'])} | **{r['stored_over_gzip']:.3f}** | {r['archival_over_gzip']:.3f} | "
            f"{r['server_s3_puts']} ({r['server_s3_puts'] / max(r['sessions'], 1):.1f}) |")
reports = [("all", json.load(open(f"{results}/bench-corpus.json")))] + [(s, json.load(open(f"{results}/bench-{s}.json"))) for s in sites]
lines = [
    "# rrstore bench on the shared corpus",
    "",
    f"Machine: {os.cpu_count()} cores, {cpu}; {datetime.date.today()}. Command: `benchmarks/bench-corpus.sh {binary}`",
    "(`rrstore bench --archival-anchor` over all sessions, then each site alone); raw numbers in",
    "[bench-corpus.json](bench-corpus.json) and `bench-<site>.json`, chart in [bench-corpus.svg](bench-corpus.svg).",
    "",
    "Bytes in MB. *stored* is what the store keeps (packs and asset objects + event chunks + SQLite),",
    "*du* what the filesystem allocates for it (blocks and directories); *archival bound* is zstd -19",
    "--long=27 over each site's sessions as one stream, measured in the same run on the same bytes.",
    "",
    "| sessions of | n | raw | gzip alone | archival bound | stored (assets + chunks + metadata) | du | stored / gzip | bound / gzip | blob PUTs (per session) |",
    "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
] + [row(name, r) for name, r in reports] + [""]
open(f"{results}/bench-corpus.table.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
