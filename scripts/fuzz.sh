#!/usr/bin/env bash
# Builds rrstore-fuzz with libFuzzer (-sanitize=fuzzer, release, its own build folder) and
# runs every target for SECONDS each (default 20), two at a time, from its committed seeds
# (Fuzz/corpus/<target>). A crash fails the run and leaves its input in FUZZ_ARTIFACTS
# (default .build-fuzz/artifacts); add it to Fuzz/corpus/<target>/ once fixed, and the
# replay in scripts/test.sh keeps it fixed. Longer runs: scripts/fuzz.sh 3600.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls Fuzz/corpus))

swift build -c release --product rrstore-fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
binary=.build-fuzz/release/rrstore-fuzz
artifacts="${FUZZ_ARTIFACTS:-.build-fuzz/artifacts}"
mkdir -p "$artifacts"
work="$(mktemp -d "${TMPDIR:-/tmp}/rrstore-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

run_target() {  # TARGET
  local target="$1" corpus="$work/$1"
  mkdir -p "$corpus"
  cp Fuzz/corpus/"$target"/* "$corpus"/
  # New inputs go to the scratch copy; the seeds stay as committed.
  if RRSTORE_FUZZ_TARGET="$target" "$binary" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "$corpus" > "$work/$target.log" 2>&1; then
    echo "fuzz: $target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$') runs in ${seconds} s, no crash"
  else
    echo "fuzz: $target FAILED; its log:" >&2
    tail -40 "$work/$target.log" >&2
    return 1
  fi
}

failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for target in "${targets[@]:i:2}"; do run_target "$target" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
done
[ "$failed" -eq 0 ] || { echo "fuzz: a target crashed (inputs in $artifacts)" >&2; exit 1; }
