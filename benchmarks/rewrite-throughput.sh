#!/usr/bin/env bash
# Rewrite throughput against OpenSSL's SHA-256 on the same bytes, on one core.
#
# Makes an NDJSON file of the corpus's events (>= 100 MB), then times, pinned to one CPU:
#   anchor  openssl dgst -sha256 FILE
#   warm    rrstore rewrite FILE with its asset directory already holding the assets
#   cold    rrstore rewrite FILE into an empty asset directory (every new asset written
#           durably: temp file, fsync, rename, fsync dir)
# and writes a result table to benchmarks/results/rewrite-throughput.md.
# Usage: benchmarks/rewrite-throughput.sh [runs]   (needs python3 and taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-15}"
corpus="$(cd ../shared/corpus && pwd)"
work="${TMPDIR:-/tmp}/rrstore-bench-rewrite"
out=benchmarks/results/rewrite-throughput.md
cpu="${BENCH_CPU:-1}"

scripts/deps.sh
# The release build scripts/run.sh makes; RRSTORE_BIN measures another binary instead.
bin="${RRSTORE_BIN:-$(scripts/release-build.sh rrstore)}"

rm -rf "$work" && mkdir -p "$work"
input="$work/corpus.ndjson"
python3 benchmarks/make-corpus-input.py --corpus "$corpus" --output "$input" --min-bytes 100000000
bytes=$(stat -c %s "$input")

# One rewrite to fill the warm directory and to record sizes and the summary.
"$bin" rewrite --assets "$work/warm" "$input" > "$work/rewritten.ndjson" 2> "$work/summary-cold.txt"
"$bin" rewrite --assets "$work/warm" "$input" > /dev/null 2> "$work/summary-warm.txt"

# Anchor and rrstore alternate run by run, so that drift on a shared machine hits both;
# each pair gives one ratio, and the table reports medians.
python3 benchmarks/paired-timing.py --cpu "$cpu" --runs "$runs" --output "$work/warm.json" \
  --anchor "openssl dgst -sha256 $input" --command "$bin rewrite --assets $work/warm $input"
python3 benchmarks/paired-timing.py --cpu "$cpu" --runs "$(( runs < 5 ? runs : 5 ))" --output "$work/cold.json" \
  --prepare "rm -rf $work/cold" \
  --anchor "openssl dgst -sha256 $input" --command "$bin rewrite --assets $work/cold $input"

assets_bytes=$(find "$work/warm" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
assets_count=$(find "$work/warm" -type f | wc -l)
rewritten_bytes=$(stat -c %s "$work/rewritten.ndjson")
gzip_corpus=$(find "$corpus" -name '*.json.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
assets_gz=$(find "$work/warm" -type f -print0 | xargs -0 cat | gzip -6 | wc -c)
rewritten_gz=$(gzip -6 -c "$work/rewritten.ndjson" | wc -c)

python3 - "$work" "$bytes" "$rewritten_bytes" "$assets_bytes" "$assets_count" "$gzip_corpus" "$assets_gz" "$rewritten_gz" "$out" "$cpu" <<'PY'
import json, sys, subprocess, platform, datetime, statistics
work, size, rewritten, assets, count, gz, assets_gz, rewritten_gz, out, cpu = sys.argv[1:]
size, rewritten, assets, count, gz, assets_gz, rewritten_gz = map(int, (size, rewritten, assets, count, gz, assets_gz, rewritten_gz))
warm = json.load(open(f"{work}/warm.json"))
cold = json.load(open(f"{work}/cold.json"))
def row(name, times, ratios):
    med = statistics.median(times)
    return name, med, min(times), size / med / 1e6, statistics.median(ratios) if ratios else 1.0
rows = [
    row("openssl dgst -sha256 (anchor)", warm["anchor"], []),
    row("rrstore rewrite, assets already stored", warm["command"], warm["ratios"]),
    row("rrstore rewrite, empty asset directory", cold["command"], cold["ratios"]),
]
def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return "?"
cpu_model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
lines = [
    "# Rewrite throughput",
    "",
    f"Measured {datetime.date.today().isoformat()} by `benchmarks/rewrite-throughput.sh` on {cpu_model}, "
    f"{sh('nproc')} cores (pinned to CPU {cpu}), {sh('uname -r')}, {sh('swift --version 2>&1 | head -1')}, {sh('openssl version')}.",
    f"Input: the corpus's {sh(f'wc -l < {work}/corpus.ndjson')} events as NDJSON, {size:,} bytes (`../shared/corpus`, every session).",
    f"Times are wall-clock per run ({len(warm['command'])} warm and {len(cold['command'])} cold runs, median and best); throughput = input bytes / median time.",
    "Each rrstore run is paired with an OpenSSL run right before it; × openssl is the median over pairs of",
    "rrstore's throughput over OpenSSL's SHA-256 of the same file (1.0 would be: as fast as hashing the input once).",
    "",
    "| command | median s | best s | MB/s | × openssl |",
    "|---|---:|---:|---:|---:|",
]
for name, med, best, mbps, ratio in rows:
    lines.append(f"| {name} | {med:.3f} | {best:.3f} | {mbps:.0f} | {ratio:.2f} |")
lines += [
    "",
    "Sizes (the corpus once):",
    "",
    "| what | bytes | of raw |",
    "|---|---:|---:|",
    f"| raw events | {size:,} | 100% |",
    f"| gzip of each session (the corpus files) | {gz:,} | {gz / size:.1%} |",
    f"| rewritten events | {rewritten:,} | {rewritten / size:.1%} |",
    f"| unique assets ({count:,} files, as stored: gzip level 1 where it pays, as `AssetDirectory` keeps them) | {assets:,} | {assets / size:.1%} |",
    f"| rewritten events + unique assets | {rewritten + assets:,} | {(rewritten + assets) / size:.1%} |",
    f"| the same, each gzipped (`gzip -6`, as a compressing store would keep them) | {rewritten_gz + assets_gz:,} | {(rewritten_gz + assets_gz) / size:.1%} |",
    "",
    "rrstore's own summaries: the first run, into an empty asset directory, then a warm run.",
    "",
    "```",
    open(f"{work}/summary-cold.txt").read().strip(),
    "```",
    "",
    "```",
    open(f"{work}/summary-warm.txt").read().strip(),
    "```",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
