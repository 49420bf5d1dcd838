#!/usr/bin/env bash
# Builds gateway + scim-bench (release), starts the gateway on a fresh SQLite database,
# creates a tenant, runs the Entra-shaped load driver against it and stops the server.
#
# Usage: bench/run.sh [scim-bench args...]
#   e.g. bench/run.sh --users 2000 --groups 20 --json /tmp/bench.json
#
# Environment:
#   PORT              listen port of the gateway (default 18080)
#   CARGO_TARGET_DIR  cargo target dir (default $HOME/.cache/scimgw/target)
#   RUST_LOG          log filter for the gateway (default "warn", to keep logging off the hot path)
#   SKIP_BUILD=1      do not run cargo build
#   KEEP_TMP=1        keep the temp dir (database, server log) instead of deleting it
#   GATEWAY_BIN, BENCH_BIN  override the binaries (default: $CARGO_TARGET_DIR/release/...)
#   BENCH_DATABASE_URL  run against this (empty) database instead of a fresh SQLite file, e.g.
#                     postgres://postgres@127.0.0.1:5432/scimgw_bench (create it first; it is not dropped)
#   GATEWAY_*         passed to the gateway as configuration, e.g. GATEWAY_MAX_BODY_BYTES=16777216
#
# Exit status: that of scim-bench (0 ok, 1 a phase had errors, 2 setup failure),
# or 1 if the gateway could not be started / the tenant could not be created.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PORT:-18080}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/scimgw/target}"

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Prints the HTTP status of a GET (000 when nothing answers).
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    python3 - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
  fi
}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && cargo build --release -p gateway -p bench)
fi
GATEWAY_BIN="${GATEWAY_BIN:-$CARGO_TARGET_DIR/release/gateway}"
# The gateway reads every GATEWAY_* variable as configuration and refuses unknown ones: keep this one to us.
export -n GATEWAY_BIN
BENCH_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/scim-bench}"
[[ -x "$GATEWAY_BIN" ]] || die "gateway binary not found: $GATEWAY_BIN"
[[ -x "$BENCH_BIN" ]] || die "scim-bench binary not found: $BENCH_BIN"

HEALTH_URL="http://127.0.0.1:$PORT/healthz"
if [[ "$(http_status "$HEALTH_URL")" != 000 ]]; then
  die "something already answers on port $PORT; set PORT=..."
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-bench.XXXXXX")"
DB_URL="${BENCH_DATABASE_URL:-sqlite://$TMP/bench.db}"
export -n BENCH_DATABASE_URL 2>/dev/null || true
export GATEWAY_CREDENTIAL_KEY_FILE="$TMP/key"
SERVER_PID=""

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do # up to 10 s for a graceful shutdown
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "gateway did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  stop_server
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    log "kept $TMP (database, server.log)"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting gateway on 127.0.0.1:$PORT, database $DB_URL"
RUST_LOG="${RUST_LOG:-warn}" "$GATEWAY_BIN" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" \
  >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 300); do # up to 30 s
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 50 "$TMP/server.log" >&2 || true
    SERVER_PID=""
    die "gateway exited during startup (log above)"
  fi
  [[ "$(http_status "$HEALTH_URL")" == 200 ]] && break
  sleep 0.1
done
if [[ "$(http_status "$HEALTH_URL")" != 200 ]]; then
  tail -n 50 "$TMP/server.log" >&2 || true
  die "gateway did not answer 200 on $HEALTH_URL within 30 s"
fi
log "gateway up (pid $SERVER_PID)"

TENANT_OUT="$("$GATEWAY_BIN" tenant create bench --database-url "$DB_URL")" ||
  die "gateway tenant create failed"
# The command prints one JSON object {"tenant":…,"scim_path":…,"token":…}; take the last
# line that looks like one in case anything else is printed too.
TENANT_JSON="$(printf '%s\n' "$TENANT_OUT" | grep -E '^[[:space:]]*\{' | tail -n 1 || true)"
[[ -n "$TENANT_JSON" ]] || die "no JSON object in 'tenant create' output: $TENANT_OUT"
json_field() {
  if command -v python3 >/dev/null 2>&1; then
    printf '%s' "$TENANT_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
  else
    printf '%s' "$TENANT_JSON" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
  fi
}
SCIM_PATH="$(json_field scim_path)" || die "cannot read scim_path from: $TENANT_JSON"
TOKEN="$(json_field token)" || die "cannot read token from tenant create output"
[[ -n "$SCIM_PATH" && -n "$TOKEN" ]] || die "scim_path/token missing in: $TENANT_JSON"
BASE_URL="http://127.0.0.1:$PORT$SCIM_PATH"
log "tenant created; base URL $BASE_URL"

# WEBHOOK_SINK_PORT: attach a webhook target delivering every change to a sink on that port (the
# "SCIM throughput with one target attached" figure; bench/plugins.sh scim starts the sink).
if [[ -n "${WEBHOOK_SINK_PORT:-}" ]]; then
  PLUGIN_WASM="${SCIMGW_PLUGINS_DIR:-$HOME/.cache/scimgw/plugins}/webhook.wasm"
  "$GATEWAY_BIN" plugin add "$PLUGIN_WASM" --database-url "$DB_URL" >/dev/null || die "plugin add failed"
  "$GATEWAY_BIN" target add --database-url "$DB_URL" --tenant bench --name hook --plugin webhook \
    --config "{\"url\":\"http://127.0.0.1:$WEBHOOK_SINK_PORT/hook\"}" \
    --allow-host "http://127.0.0.1:$WEBHOOK_SINK_PORT" --allow-http --allow-private >/dev/null || die "target add failed"
  if [[ "${WEBHOOK_PAUSED:-0}" == 1 ]]; then
    # Translate and queue only (no delivery): separates the dispatcher's cost from the deliveries'.
    "$GATEWAY_BIN" target pause --database-url "$DB_URL" --tenant bench hook >/dev/null
  fi
  log "webhook target attached (sink on port $WEBHOOK_SINK_PORT)"
fi

# The token goes through the environment (clap reads SCIM_BENCH_TOKEN), not argv.
set +e
SCIM_BENCH_TOKEN="$TOKEN" "$BENCH_BIN" --base-url "$BASE_URL" --server-pid "$SERVER_PID" "$@"
RC=$?
set -e

log "stopping gateway"
stop_server
echo
echo "database size:"
du -h "$TMP"/bench.db* 2>/dev/null || echo "(no database files under $TMP)"
du -sh "$TMP" | sed 's/^/total temp dir: /'
exit "$RC"
