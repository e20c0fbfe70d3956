#!/usr/bin/env bash
# Load benchmark of the HTTP service against nginx on the same bytes, in the same run:
# asset PUT/GET, ingest throughput and latency, RSS under 100 clients, a 1 GB read.
# Writes benchmarks/results/service-throughput.md. Needs wrk and nginx (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
command -v wrk >/dev/null && command -v nginx >/dev/null || sudo_apt=1
if [ "${sudo_apt:-0}" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk nginx-light; else sudo apt-get install -y -q wrk nginx-light; fi
fi
bin="$(scripts/release-build.sh rrstore)"
mkdir -p benchmarks/results
python3 benchmarks/service-bench.py "$bin" benchmarks/results/service-throughput.md
