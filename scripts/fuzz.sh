#!/usr/bin/env bash
# Builds rrstore-fuzz with libFuzzer (-sanitize=fuzzer, release, its own build folder) and
# runs every target for SECONDS each (default 20), two at a time, from its committed seeds
# (Fuzz/corpus/<target>). A crash fails the run and leaves its input in FUZZ_ARTIFACTS
# (default .build-fuzz/artifacts); add it to Fuzz/corpus/<target>/ once fixed, and the
# replay in scripts/test.sh keeps it fixed. Longer runs: scripts/fuzz.sh 3600. With
# FUZZ_REPORT=FILE.md it writes a table of the run (benchmarks/results/fuzz.md is one).
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
    local runs done
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$')
    done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$target.log" | tail -1)
    echo "fuzz: $target: $runs runs in ${seconds} s, no crash"
    echo "| $target | $runs | $(echo "$done" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*') | $(echo "$done" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*') | $(echo "$done" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*') | $(ls Fuzz/corpus/"$target" | wc -l) |" > "$work/$target.row"
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

if [ -n "${FUZZ_REPORT:-}" ]; then
  {
    echo "# Fuzzing run"
    echo
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(date +%Y-%m-%d)."
    echo "\`scripts/fuzz.sh $seconds\` (libFuzzer, release build with -sanitize=fuzzer, two targets at a time),"
    echo "$seconds s per target from the committed seeds; no crash, no timeout."
    echo
    echo "| target | inputs run | coverage (edges) | features | corpus at the end | seeds |"
    echo "|---|---|---|---|---|---|"
    for target in "${targets[@]}"; do cat "$work/$target.row"; done
  } > "$FUZZ_REPORT"
  echo "fuzz: report in $FUZZ_REPORT"
fi
