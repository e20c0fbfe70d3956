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


def listing():
    return {os.path.join(d, name) for d, _, files in os.walk(assets) for name in files if not name.startswith(".")}


first_session = {}  # asset path -> index of the session that first stored it
for index, path in enumerate(sessions):
    subprocess.run([binary, "rewrite", "--loose", "--assets", assets, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for new in listing() - first_session.keys():
        first_session[new] = index

stored = sorted(first_session, key=lambda p: (first_session[p], os.stat(p).st_mtime_ns))  # the order they were first stored
MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"wOFF", b"wOF2", b"\x1f\x8b", b"RIFF")
compressible, others = [], 0
by_session = [[] for _ in sessions]  # each session's new compressible assets: what its pack holds
for path in stored:
    data = open(path, "rb").read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    if len(data) >= 256 and not data.startswith(MAGIC):
        compressible.append(data)
        by_session[first_session[path]].append(data)
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


# As the service packs them: one pack per session's flush, so each session's new assets are
# blocks of their own and compression context restarts at every session. What context
# carried across sessions would be worth: a dictionary trained on the tenant's earlier
# assets (its stored size counted: it is an object of its own), and, as the bound of any
# such scheme, the previous 8 MiB of raw assets as a prefix (zstd --patch-from), which no
# reader can afford: each block would need the blocks before it, without end.
def blocks(datas, size=4 << 20):
    out, current = [], b""
    for data in datas:
        current += data
        if len(current) >= size:
            out.append(current)
            current = b""
    return out + ([current] if current else [])


def zstd_file(block, *extra):
    with tempfile.NamedTemporaryFile(dir=work) as f:
        f.write(block)
        f.flush()
        return len(subprocess.run(["zstd", "-q", "-c", "-19", *extra, f.name], capture_output=True, check=True).stdout)


def trained(samples, size):
    folder = tempfile.mkdtemp(dir=work)
    for i, sample in enumerate(samples):
        open(f"{folder}/{i}", "wb").write(sample)
    result = subprocess.run(["zstd", "--train", "-q", "-r", folder, "-o", folder + ".dict", f"--maxdict={size}"], capture_output=True)
    return folder + ".dict" if result.returncode == 0 else None


per_session = {"plain": 0, "prefix": 0}
# A tenant trains a dictionary once its earlier assets reach 1 MiB and again each time they
# have doubled since (a handful of dictionaries over its life, each stored once).
dictionaries = {size: {"blocks": 0, "stored": 0, "count": 0, "path": None, "trained_at": 0} for size in (110 << 10, 500 << 10)}
for index, datas in enumerate(by_session):
    if not datas:
        continue
    earlier = [d for ds in by_session[:index] for d in ds]
    earlier_bytes = sum(map(len, earlier))
    plain = sum(zstd_file(b) for b in blocks(datas))
    per_session["plain"] += plain
    for size, state in dictionaries.items():
        if earlier_bytes >= max(1 << 20, 2 * state["trained_at"]):
            path = trained(earlier, size)
            if path:
                state.update(path=path, trained_at=earlier_bytes, count=state["count"] + 1)
                state["stored"] += zstd(open(path, "rb").read(), 19)
        state["blocks"] += sum(zstd_file(b, "-D", state["path"]) for b in blocks(datas)) if state["path"] else plain
    if earlier:
        prefix = os.path.join(work, "prefix")
        open(prefix, "wb").write(b"".join(earlier)[-(8 << 20):])
        per_session["prefix"] += sum(zstd_file(b, f"--patch-from={prefix}") for b in blocks(datas))
    else:
        per_session["prefix"] += plain
session_rows = [("zstd -19, blocks of ≤ 4 MiB, one pack per session (the service today)", per_session["plain"], "one block")]
for size, state in dictionaries.items():
    session_rows.append((f"the same with a {size >> 10} KiB dictionary trained on the tenant's earlier assets at 1 MiB and at each doubling "
                         f"({state['count']} dictionaries; {state['blocks']:,} in blocks + {state['stored']:,} for the dictionaries)",
                         state["blocks"] + state["stored"], "one block and the dictionary"))
session_rows.append(("the same with the previous 8 MiB of raw assets as a prefix (bound of any cross-session context)",
                     per_session["prefix"], "one block and every block before it"))

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
    out.write("\n## Across sessions, as the service packs them\n\n"
              "The service writes one pack per session's flush, so each session's new assets (the ones no earlier "
              "session had) are compressed without the context of the sessions before. What carrying context "
              "across sessions would save:\n\n")
    out.write("| how | bytes kept | × gzip -9 one by one | reading one asset decompresses |\n|---|---:|---:|---|\n")
    for name, size, read in session_rows:
        out.write(f"| {name} | {size:,} | {size / base:.3f} | {read} |\n")
print(open(out_path).read())
