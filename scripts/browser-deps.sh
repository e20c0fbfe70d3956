#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium and chromium-driver, Selenium and
# Pillow from PyPI, and the real rrweb recorder and player from the PyPI wheel
# django-rrweb==4.0.5, checked by sha256 (the wheel and each file taken from it) and laid out
# in .build/browser/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-ensure.sh chromium chromium-driver

if ! python3 -c 'import selenium, PIL' 2>/dev/null; then
  echo "browser-deps: installing selenium and pillow from PyPI" >&2
  python3 -m pip install -q 'selenium>=4.20,<5' 'pillow>=10'
fi

out=.build/browser
wheel_sha=dba5b513efd89c37af93ee89a1c42ffdacecebc98ed1f9e2459debf842fd6552
declare -A file_sha=(
  [rrweb-record-1-1-3.js]=0dcba70e5917460a4184204a4dd91bec51cefeda69c6e7225eaeea0f836dd907
  [rrweb-player-0-7-14.js]=b9f1dffae83d505791d51aad06785a5b8aac5b70c166b38999b220e9333dde84
  [rrweb-player-0-7-14-style.css]=1aeff503f5ff03720537cb5ccb90c055f7e84b9c2fc9a5eae2279643d148fcd7
)
verified() {
  for name in "${!file_sha[@]}"; do
    [ -f "$out/$name" ] && echo "${file_sha[$name]}  $out/$name" | sha256sum -c --quiet - 2>/dev/null || return 1
  done
}
if ! verified; then
  mkdir -p "$out/wheel"
  wheel="$out/wheel/django_rrweb-4.0.5-py3-none-any.whl"
  [ -f "$wheel" ] || python3 -m pip download -q --no-deps -d "$out/wheel" 'django-rrweb==4.0.5'
  echo "$wheel_sha  $wheel" | sha256sum -c --quiet - || { echo "browser-deps: $wheel is not the django-rrweb 4.0.5 wheel (sha256 differs)" >&2; rm -f "$wheel"; exit 1; }
  for name in "${!file_sha[@]}"; do
    python3 - "$wheel" "django_rrweb/static/django-rrweb/$name" "$out/$name" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[3], "wb") as out:
    out.write(wheel.read(sys.argv[2]))
PY
  done
  verified || { echo "browser-deps: a file taken from the wheel has the wrong sha256" >&2; exit 1; }
fi
