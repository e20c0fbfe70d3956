#!/usr/bin/env bash
# Installs what building and testing rrstore needs on a fresh Debian machine (as root, or
# with sudo). Safe to run again: it installs only what is missing.
set -euo pipefail

apt_packages=(pkg-config libcurl4-openssl-dev libssl-dev zlib1g-dev libsqlite3-dev postgresql)

missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "deps: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
