#!/usr/bin/env bash
# rrstore rewrite before and after a change, paired run by run on one CPU
# (benchmarks/paired-timing.py): warm (the asset directory already holds the assets) and
# cold (an empty one), on the corpus as NDJSON. Writes benchmarks/results/rewrite-paired.md.
# Usage: benchmarks/rewrite-paired.sh BEFORE_BINARY AFTER_BINARY [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"; runs="${3:-11}"
cpu="${BENCH_CPU:-1}"
work="${TMPDIR:-/tmp}/rrstore-bench-rewrite-paired"
rm -rf "$work" && mkdir -p "$work"
input="$work/corpus.ndjson"
python3 benchmarks/make-corpus-input.py --corpus "$(cd ../shared/corpus && pwd)" --output "$input" --min-bytes 100000000
"$before" rewrite --assets "$work/warm-before" "$input" > "$work/before.ndjson" 2>/dev/null
"$after" rewrite --assets "$work/warm-after" "$input" > "$work/after.ndjson" 2>/dev/null
cmp "$work/before.ndjson" "$work/after.ndjson"  # the same rewritten events, byte for byte
python3 benchmarks/paired-timing.py --cpu "$cpu" --runs "$runs" --output "$work/warm.json" \
  --anchor "$before rewrite --assets $work/warm-before $input" --command "$after rewrite --assets $work/warm-after $input"
python3 benchmarks/paired-timing.py --cpu "$cpu" --runs "$runs" --output "$work/cold.json" \
  --prepare "rm -rf $work/cold-before $work/cold-after" \
  --anchor "$before rewrite --assets $work/cold-before $input" --command "$after rewrite --assets $work/cold-after $input"
files_before=$(find "$work/warm-before" -type f | wc -l); files_after=$(find "$work/warm-after" -type f | wc -l)
du_before=$(du -sb "$work/warm-before" | cut -f1); du_after=$(du -sb "$work/warm-after" | cut -f1)
python3 - "$work" "$before" "$after" "$(stat -c %s "$input")" "$files_before" "$files_after" "$du_before" "$du_after" "$cpu" <<'PY'
import datetime, json, statistics, sys
work, before, after, size, fb, fa, db, da, cpu = sys.argv[1:]
size = int(size)
warm, cold = json.load(open(f"{work}/warm.json")), json.load(open(f"{work}/cold.json"))
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
med = statistics.median
lines = [
    "# rrstore rewrite before and after packs in the offline asset directory (issue 15)", "",
    f"Measured {datetime.date.today()} by `benchmarks/rewrite-paired.sh` on {cpu_model}, pinned to CPU {cpu}; the two binaries",
    f"alternate run by run (`paired-timing.py`). Input: the corpus as NDJSON, {size:,} bytes. Before: `{before}`; after: `{after}`.",
    "Both write the same rewritten events byte for byte (`cmp`).", "",
    "| run | pairs | before, median s (best) | after, median s (best) | before MB/s | after MB/s | after / before speed |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for name, r in [("warm (assets already stored)", warm), ("cold (empty directory)", cold)]:
    b, a = r["anchor"], r["command"]
    lines.append(f"| {name} | {len(a)} | {med(b):.3f} ({min(b):.3f}) | {med(a):.3f} ({min(a):.3f}) | {size / med(b) / 1e6:.0f} | {size / med(a) / 1e6:.0f} | {med(r['ratios']):.2f} |")
wa, ca = med(warm["command"]), med(cold["command"])
lines += ["", f"After: cold runs at **{wa / ca:.2f}× its warm speed** (before: {med(warm['anchor']) / med(cold['anchor']):.2f}×).",
          f"The asset directory: before {int(fb):,} files, {int(db):,} bytes; after {int(fa):,} files, {int(da):,} bytes.", ""]
open("benchmarks/results/rewrite-paired.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
