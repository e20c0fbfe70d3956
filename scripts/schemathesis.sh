#!/usr/bin/env bash
# Runs schemathesis against a live `rrstore serve` (the debug build, embedded default in a
# temporary directory) with openapi.yaml: no 5xx, no status, header, content type or body
# that the spec does not allow. Part of scripts/test.sh; needs a prior `swift build`.
set -euo pipefail
cd "$(dirname "$0")/.."

data="$(mktemp -d "${TMPDIR:-/tmp}/rrstore-schemathesis.XXXXXX")"
log="$data/serve.log"
env -u RRSTORE_DATA .build/debug/rrstore serve --port 0 --data "$data/store" --log-level notice > "$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

port=""
for _ in $(seq 1 200); do
  port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)"
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "schemathesis: rrstore serve did not start" >&2; cat "$log" >&2; exit 1; }

# Every operation, every phase (examples, coverage, fuzzing, stateful); a fixed seed keeps
# CI runs comparable, the example count keeps the run near a minute on two cores.
python3 -m schemathesis.cli run openapi.yaml --url "http://127.0.0.1:$port" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" --request-timeout 30 --seed 20261129 --no-color

if grep -E '"(error|critical)"| error | critical ' "$log" >&2; then
  echo "schemathesis: the server logged errors (above)" >&2
  exit 1
fi
