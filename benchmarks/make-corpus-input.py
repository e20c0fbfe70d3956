#!/usr/bin/env python3
"""Writes the corpus's events as NDJSON (each event's exact bytes, one per line), repeating
the corpus until the output reaches --min-bytes. Used by the benchmarks."""
import argparse
import glob
import gzip
import json
import os
import sys


def events(raw: str):
    """Yields each top-level array element's exact text."""
    decoder = json.JSONDecoder()
    i = raw.index("[") + 1
    while True:
        while raw[i] in " \n\r\t,":
            i += 1
        if raw[i] == "]":
            return
        _, j = decoder.raw_decode(raw, i)
        yield raw[i:j]
        i = j


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--min-bytes", type=int, default=100_000_000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    sessions = sorted(glob.glob(os.path.join(args.corpus, "*", "*.json.gz")))
    if not sessions:
        sys.exit(f"no sessions under {args.corpus}")
    written = 0
    passes = 0
    with open(args.output, "wb") as out:
        while written < args.min_bytes:
            passes += 1
            for path in sessions:
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    for event in events(f.read()):
                        data = event.encode("utf-8") + b"\n"
                        out.write(data)
                        written += len(data)
    print(f"{written} bytes, {len(sessions)} sessions, {passes} pass(es) over the corpus", file=sys.stderr)


if __name__ == "__main__":
    main()
