#!/usr/bin/env bash
# Starts the real servers the tests talk to, on loopback, and exports their addresses:
#   moto (S3)                       RRSTORE_TEST_S3_ENDPOINT
#   moto with SigV4 checking on     RRSTORE_TEST_S3_AUTH_ENDPOINT, _AUTH_KEY, _AUTH_SECRET
#   a fault-injecting proxy → moto  RRSTORE_TEST_S3_FAULTY_ENDPOINT, RRSTORE_TEST_S3_FAULT_STATS
#   a throwaway PostgreSQL cluster  RRSTORE_TEST_POSTGRES_URL
# Source it (". scripts/test-services.sh"); it installs a trap that stops them on exit.
# Installs moto's server and boto3 from PyPI if they are missing.

services_dir="$(mktemp -d "${TMPDIR:-/tmp}/rrstore-services.XXXXXX")"
chmod 755 "$services_dir"
service_pids=()

stop_test_services() {
  if [ -n "${pg_data:-}" ]; then as_postgres "$pg_bin/pg_ctl" -D "$pg_data" stop -m immediate >/dev/null 2>&1 || true; fi
  for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${service_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$services_dir"
}
trap stop_test_services EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_http() {  # URL NAME
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "test-services: $2 did not start; its log:" >&2
  cat "$services_dir/$2.log" >&2 || true
  return 1
}

if ! python3 -c 'import moto.server, flask, flask_cors, boto3, openapi_spec_validator, yaml, schemathesis' 2>/dev/null; then
  echo "test-services: installing moto[server], boto3, openapi-spec-validator and schemathesis from PyPI" >&2
  python3 -m pip install -q 'moto[server]>=5,<6' boto3 openapi-spec-validator pyyaml 'schemathesis>=4,<5'
fi

start_moto() {  # NAME; sets started_port (not echoed: a subshell would lose the pid)
  started_port=$(free_port)
  python3 -m moto.server -H 127.0.0.1 -p "$started_port" > "$services_dir/$1.log" 2>&1 &
  service_pids+=($!)
  wait_for_http "http://127.0.0.1:$started_port/moto-api/" "$1"
}

start_moto moto
moto_port=$started_port
export RRSTORE_TEST_S3_ENDPOINT="http://127.0.0.1:$moto_port"

start_moto moto-auth
auth_port=$started_port
read -r auth_key auth_secret < <(python3 "$(dirname "${BASH_SOURCE[0]}")/moto-auth-setup.py" "http://127.0.0.1:$auth_port")
export RRSTORE_TEST_S3_AUTH_ENDPOINT="http://127.0.0.1:$auth_port"
export RRSTORE_TEST_S3_AUTH_KEY="$auth_key" RRSTORE_TEST_S3_AUTH_SECRET="$auth_secret"

proxy_port=$(free_port)
export RRSTORE_TEST_S3_FAULT_STATS="$services_dir/fault-stats.json"
python3 "$(dirname "${BASH_SOURCE[0]}")/fault-proxy.py" "$proxy_port" "$moto_port" 3 "$RRSTORE_TEST_S3_FAULT_STATS" > "$services_dir/proxy.log" 2>&1 &
service_pids+=($!)
wait_for_http "http://127.0.0.1:$proxy_port/moto-api/" proxy
export RRSTORE_TEST_S3_FAULTY_ENDPOINT="http://127.0.0.1:$proxy_port"

echo "test-services: moto $RRSTORE_TEST_S3_ENDPOINT, moto with auth $RRSTORE_TEST_S3_AUTH_ENDPOINT, fault proxy $RRSTORE_TEST_S3_FAULTY_ENDPOINT" >&2

# PostgreSQL: a new cluster in a temp dir (trust auth, no fsync: it is thrown away).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$pg_bin" ]; then
  echo "test-services: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
  return 1 2>/dev/null || exit 1
fi
pg_port=$(free_port)
pg_data="$services_dir/pg/data"
mkdir -p "$services_dir/pg"
[ "$(id -u)" -ne 0 ] || chown -R postgres "$services_dir/pg"
as_postgres "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres --no-sync > "$services_dir/pg/initdb.log" 2>&1 \
  || { cat "$services_dir/pg/initdb.log" >&2; exit 1; }
as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -l "$services_dir/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $services_dir/pg -c fsync=off -c max_connections=600" start > /dev/null \
  || { cat "$services_dir/pg/server.log" >&2; exit 1; }
as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres rrstore_test
export RRSTORE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/rrstore_test"
echo "test-services: PostgreSQL $RRSTORE_TEST_POSTGRES_URL" >&2
