#!/usr/bin/env python3
"""How much compression context across assets is worth (issue 15's pack design): the
compressible assets `rrstore rewrite` extracts from every corpus session (tree JSON, CSS,
text; not images), in the order they were first stored, compressed one by one (gzip -9, as
rrstore stores them today, and zstd at several levels) and in blocks of several assets
(zstd per block: what a pack's block would take, and what reading one asset costs: one
block decompressed). Sizes only, so the machine's load does not matter.

Usage: benchmarks/pack-context.py RRSTORE_BINARY CORPUS_DIR OUT.md"""
import gzip, os, platform, subprocess, sys, tempfile, time, zlib

binary, corpus, out_path = sys.argv[1:4]
work = tempfile.mkdtemp(prefix="rrstore-pack-context-")
assets = os.path.join(work, "assets")
sessions = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus) for f in fs if f.startswith("session-") and f.endswith(".json.gz"))
for path in sessions:
    subprocess.run([binary, "rewrite", "--loose", "--assets", assets, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

stored = []
for directory, _, files in os.walk(assets):
    for name in files:
        if not name.startswith("."):
            stored.append(os.path.join(directory, name))
stored.sort(key=lambda p: os.stat(p).st_mtime_ns)  # the order they were first stored
MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"wOFF", b"wOF2", b"\x1f\x8b", b"RIFF")
compressible, others = [], 0
for path in stored:
    data = open(path, "rb").read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    if len(data) >= 256 and not data.startswith(MAGIC):
        compressible.append(data)
    else:
        others += len(data)
raw = sum(map(len, compressible))


def zstd(data, level, *extra):
    return len(subprocess.run(["zstd", "-q", "-c", f"-{level}", *extra], input=data, capture_output=True, check=True).stdout)


rows = [("gzip -9, one asset at a time (today)", sum(len(gzip.compress(d, 9)) for d in compressible), "the asset")]
for level in (3, 9, 19):
    rows.append((f"zstd -{level}, one asset at a time", sum(zstd(d, level) for d in compressible), "the asset"))
for block in (64 << 10, 256 << 10, 1 << 20, 4 << 20):
    for level in (3, 9, 19):
        total, current = 0, b""
        for data in compressible:
            current += data
            if len(current) >= block:
                total += zstd(current, level)
                current = b""
        if current:
            total += zstd(current, level)
        rows.append((f"zstd -{level}, blocks of ≥ {block >> 10} KiB", total, f"one block (≤ {block >> 10} KiB + one asset)"))
rows.append(("zstd -19 --long=27, all of it as one stream (archival bound)", zstd(b"".join(compressible), 19, "--long=27"), "everything before it"))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
zstd_version = subprocess.run(["zstd", "--version"], capture_output=True, text=True).stdout.strip()
with open(out_path, "w") as out:
    out.write("# Compression context across assets (issue 15)\n\n")
    out.write(f"Machine: {os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d')}; {zstd_version}; "
              f"`benchmarks/pack-context.py` over {len(sessions)} corpus sessions.\n\n")
    out.write(f"{len(compressible)} compressible assets (tree JSON, CSS, text), {raw:,} bytes raw; "
              f"images and other compressed assets ({others:,} bytes) are left out (kept as they are).\n\n")
    out.write("| how | bytes kept | × gzip -9 one by one | reading one asset decompresses |\n|---|---:|---:|---|\n")
    base = rows[0][1]
    for name, size, read in rows:
        out.write(f"| {name} | {size:,} | {size / base:.3f} | {read} |\n")
print(open(out_path).read())
