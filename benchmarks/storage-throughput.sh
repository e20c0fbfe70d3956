#!/usr/bin/env bash
# Blob put/get throughput for 4 KiB, 100 KiB and 5 MiB blobs, on the filesystem store and on
# S3 (moto on loopback), each against an anchor on the same sizes in the same run: plain
# Python file writes doing the same durable steps, and boto3 against the same moto server.
# Writes benchmarks/results/storage-throughput.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${TMPDIR:-/tmp}/rrstore-bench-storage"
out=benchmarks/results/storage-throughput.md
rm -rf "$work" && mkdir -p "$work"

scripts/deps.sh
bin="$(scripts/release-build.sh rrstore-storage-bench)"
. scripts/test-services.sh

"$bin" file "$work/rrstore-files" > "$work/file.jsonl"
python3 benchmarks/storage-anchor.py file "$work/anchor-files" > "$work/file-anchor.jsonl"
"$bin" s3 "$RRSTORE_TEST_S3_ENDPOINT" bench-rrstore > "$work/s3.jsonl"
python3 benchmarks/storage-anchor.py s3 "$RRSTORE_TEST_S3_ENDPOINT" bench-anchor > "$work/s3-anchor.jsonl"

python3 - "$work" "$out" <<'PY'
import json, sys, subprocess, datetime
work, out = sys.argv[1:]
def load(name): return [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
def sh(cmd): return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
def human(size): return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
lines = ["# Blob store throughput", "",
         f"Measured {datetime.date.today().isoformat()} by `benchmarks/storage-throughput.sh` on "
         f"{cpu}, {sh('nproc')} cores, {sh('uname -r')}, disk: {sh('df -h /tmp | tail -1 | cut -c1-20')}.",
         "Sequential puts (create-only, digest and size verified) then gets of distinct blobs. MB/s = bytes / seconds.",
         "Anchors, same sizes and counts in the same run: for files, Python doing the same durable steps (write a temp file,",
         "fsync, link, fsync the directory; plain reads); for S3, boto3 against the same moto server (so moto's own speed cancels out).", ""]
for store, anchor, title in [("file", "file-anchor", "filesystem (FileBlobStore)"), ("s3", "s3-anchor", "S3 on moto (S3BlobStore over libcurl)")]:
    lines += [f"## {title}", "", "| blob | count | put MB/s | anchor put MB/s | × anchor | get MB/s | anchor get MB/s | × anchor |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r, a in zip(load(store), load(anchor)):
        total = r["size"] * r["count"] / 1e6
        p, ap = total / r["put_seconds"], total / a["put_seconds"]
        g, ag = total / r["get_seconds"], total / a["get_seconds"]
        lines.append(f"| {human(r['size'])} | {r['count']} | {p:.1f} | {ap:.1f} | {p / ap:.2f} | {g:.1f} | {ag:.1f} | {g / ag:.2f} |")
    lines.append("")
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY
