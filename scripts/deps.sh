#!/usr/bin/env bash
# Installs what building and testing rrstore needs on a fresh Debian machine (as root, or
# with sudo). Safe to run again: it installs only what is missing.
set -euo pipefail

"$(dirname "$0")"/apt-ensure.sh pkg-config libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev zstd libsqlite3-dev postgresql

command -v swift >/dev/null || { echo "deps: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
