#!/usr/bin/env bash
# Builds PRODUCT in release mode, the way every script here runs rrstore (the Swift runtime
# and Foundation linked statically: one self-contained binary, faster to start), and prints
# the binary's path. Build progress goes to standard error.
# Usage: scripts/release-build.sh PRODUCT
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product "$1" >&2
echo "$(swift build -c release --static-swift-stdlib --show-bin-path)/$1"
