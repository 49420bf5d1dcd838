#!/usr/bin/env bash
# The plugin host's benchmarks (issue 4), results in bench/RESULTS.md:
#   bench/plugins.sh translate          translate cost per event (template = typed ops, webhook = JSON payload)
#   bench/plugins.sh delivery [N]       delivery throughput of N webhook operations to a loopback sink:
#                                       the target is paused while N users are created, then resumed and
#                                       the time until the sink has all N is measured.
#                                       DATABASE_URL=postgres://… runs it on PostgreSQL (a fresh database
#                                       scimgw_bench_<pid> on that server), default SQLite.
#   bench/plugins.sh scim [args]        bench/run.sh (the SCIM benchmark) with one webhook target attached,
#                                       delivering to a loopback sink while the load runs.
# Environment: CARGO_TARGET_DIR, SKIP_BUILD=1, PORT (gateway, default 18090), SINK_PORT (default 18091),
#   SCIMGW_PLUGINS_DIR (built plugins; default ~/.cache/scimgw/plugins).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
PORT="${PORT:-18090}"
SINK_PORT="${SINK_PORT:-18091}"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
MODE="${1:-translate}"
shift || true

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    bash "$ROOT/scripts/build-plugins.sh" >&2
    (cd "$ROOT" && cargo build --release -p gateway -p bench >&2)
fi
G="$CARGO_TARGET_DIR/release/gateway"
PB="$CARGO_TARGET_DIR/release/plugin-bench"

case "$MODE" in
translate)
    for p in template webhook; do
        for _ in 1 2 3; do "$PB" translate --plugin "$PLUGINS/$p.wasm" --json; done
    done
    ;;
delivery)
    N="${1:-10000}"
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-plugbench.XXXXXX")"
    PIDS=()
    cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
    trap cleanup EXIT
    if [[ "${DATABASE_URL:-}" == postgres* ]]; then
        DB="scimgw_bench_$$"
        psql "$DATABASE_URL" -qAtc "CREATE DATABASE $DB" >/dev/null
        export DATABASE_URL="${DATABASE_URL%/*}/$DB"
        trap 'cleanup; psql "${DATABASE_URL%/*}/postgres" -qAtc "DROP DATABASE IF EXISTS '"$DB"' WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
    else
        export DATABASE_URL="sqlite://$TMP/bench.db"
    fi
    export GATEWAY_CREDENTIAL_KEY_FILE="$TMP/key" RUST_LOG="${RUST_LOG:-warn}"
    "$PB" sink --port "$SINK_PORT" --expect "$N" >"$TMP/sink.json" 2>"$TMP/sink.log" &
    SINK=$!; PIDS+=("$SINK")
    TOKEN="$("$G" tenant create bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
    "$G" plugin add "$PLUGINS/webhook.wasm" >/dev/null
    "$G" target add --tenant bench --name hook --plugin webhook \
        --config "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\"}" \
        --allow-host "http://127.0.0.1:$SINK_PORT" --allow-http --allow-private >/dev/null
    "$G" target pause --tenant bench hook >/dev/null
    "$G" serve --bind "127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
    SERVER=$!; PIDS+=("$SERVER")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    say "creating $N users (target paused)"
    SCIM_BENCH_TOKEN="$TOKEN" "$CARGO_TARGET_DIR/release/scim-bench" --base-url "http://127.0.0.1:$PORT/scim/v2/bench" \
        --users "$N" --phases create >"$TMP/create.txt"
    pending() { "$G" target status --tenant bench hook | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])'; }
    for _ in $(seq 600); do [[ "$(pending)" -ge "$N" ]] && break; sleep 0.5; done
    say "$(pending) operations queued; resuming the target"
    T0=$(date +%s.%N)
    "$G" target resume --tenant bench hook >/dev/null
    wait "$SINK" || { cat "$TMP/sink.log"; tail -20 "$TMP/server.log"; die "sink did not receive $N requests"; }
    T1=$(date +%s.%N)
    python3 - "$T0" "$T1" "$N" "$TMP/sink.json" "${DATABASE_URL%%:*}" <<'PY'
import json, sys
t0, t1, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
sink = json.load(open(sys.argv[4]))
print(json.dumps({"backend": sys.argv[5], "operations": n, "resume_to_last_secs": round(t1 - t0, 3),
                  "ops_per_sec_resume_to_last": round(n / (t1 - t0)), "sink": sink}))
PY
    ;;
scim)
    TMPS="$(mktemp -d)"
    "$PB" sink --port "$SINK_PORT" --expect 1000000000 --timeout-secs 86400 >/dev/null 2>"$TMPS/sink.log" &
    SINK=$!
    trap 'kill $SINK 2>/dev/null || true; rm -rf "$TMPS"' EXIT
    WEBHOOK_SINK_PORT="$SINK_PORT" SKIP_BUILD=1 PORT="$PORT" bash "$ROOT/bench/run.sh" "$@"
    ;;
*)
    die "usage: bench/plugins.sh translate | delivery [N] | scim [run.sh args]"
    ;;
esac
