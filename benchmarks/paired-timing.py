#!/usr/bin/env python3
"""Times a command against an anchor command, alternating them run by run on one CPU, and
writes {"anchor": [s...], "command": [s...], "ratios": [anchor/command...]} as JSON."""
import argparse
import json
import os
import subprocess
import time


def timed(command, cpu):
    started = time.perf_counter()
    subprocess.run(["taskset", "-c", str(cpu), "sh", "-c", command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--anchor", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--prepare", default=None, help="run before each timed command (not timed)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    result = {"anchor": [], "command": [], "ratios": []}
    for i in range(args.warmup + args.runs):
        a = timed(args.anchor, args.cpu)
        if args.prepare:
            subprocess.run(["sh", "-c", args.prepare], check=True)
        c = timed(args.command, args.cpu)
        if i >= args.warmup:
            result["anchor"].append(a)
            result["command"].append(c)
            result["ratios"].append(a / c)
    with open(args.output, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
