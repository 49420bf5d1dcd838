#!/usr/bin/env bash
# Initial provisioning into iSpring Learn (issue 5), results in bench/RESULTS.md:
#
#   bench/ispring.sh [--users 10000] [--groups 100] [--members-per-group 100] [--members-per-patch 25]
#
# Starts the iSpring Learn simulator (release build) and the gateway (release, SQLite) with an `ispring`
# target, pushes the Entra workload with scim-bench (users, then groups, then memberships: every user in
# exactly one group, `--members-per-patch` members per PATCH as Entra batches them), and times from the
# first SCIM request until the last operation is applied in the simulator. Prints one JSON object: wall
# times, HTTP calls to the simulator (total, per user, by route), where the gateway spent its time
# (translate, deliver, queueing), and a check that the simulator ends in the expected state.
# Environment: CARGO_TARGET_DIR, SKIP_BUILD=1, BENCH_GATEWAY (another gateway binary, for A/B runs),
#   SCIMGW_KV_CACHE=off (the gateway reads plugins' kv from SQLite every time, for A/B runs),
#   PORT (default 18095), GATEWAY_WORKERS (default 1),
#   ADD_USERS_TO_GROUPS (default false), SIM_LATENCY_MS (added per API request by the simulator, default 0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
PORT="${PORT:-18095}"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
USERS=10000 NGROUPS=100 PER_GROUP=100 PER_PATCH=25
while (($#)); do
    case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --groups) NGROUPS="$2"; shift 2 ;;
    --members-per-group) PER_GROUP="$2"; shift 2 ;;
    --members-per-patch) PER_PATCH="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
    esac
done
((NGROUPS * PER_GROUP <= USERS)) || die "--groups x --members-per-group must not exceed --users"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    bash "$ROOT/scripts/build-plugins.sh" >&2
    (cd "$ROOT" && cargo build --release -p gateway -p bench -p ispring-sim >&2)
fi
G="${BENCH_GATEWAY:-$CARGO_TARGET_DIR/release/gateway}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-ispring-bench.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$TMP/bench.db" GATEWAY_CREDENTIAL_KEY_FILE="$TMP/key" RUST_LOG="${RUST_LOG:-warn}"

"$CARGO_TARGET_DIR/release/ispring-sim" --bind 127.0.0.1:0 >"$TMP/sim.out" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$TMP/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM="$(sed -n 's/^listening on //p' "$TMP/sim.out")"
[[ -n "$SIM" ]] || die "the simulator did not start"
if [[ "${SIM_LATENCY_MS:-0}" != 0 ]]; then
    curl -sf -X POST "$SIM/_sim/faults" -H 'Content-Type: application/json' -d "{\"latencyMs\":$SIM_LATENCY_MS}" >/dev/null
fi

TOKEN="$("$G" tenant create bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$G" plugin add "$PLUGINS/ispring.wasm" >/dev/null
CREDENTIAL="{\"type\":\"oauth2-client-credentials\",\"tokenUrl\":\"$SIM/api/v3/token\",\"clientId\":\"sim-client\",\"clientSecret\":\"sim-secret\"}"
"$G" target add --tenant bench --name ispring --plugin ispring \
    --config "{\"baseUrl\":\"$SIM\",\"addUsersToGroups\":${ADD_USERS_TO_GROUPS:-false}}" \
    --allow-host "$SIM" --allow-http --allow-private --credential "ispring=$CREDENTIAL" >/dev/null
GATEWAY_WORKERS="${GATEWAY_WORKERS:-1}" "$G" serve --bind "127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done

say "pushing $USERS users, $NGROUPS groups, $((NGROUPS * PER_GROUP)) memberships ($PER_PATCH per PATCH)"
T0=$(date +%s.%N)
SCIM_BENCH_TOKEN="$TOKEN" "$CARGO_TARGET_DIR/release/scim-bench" --base-url "http://127.0.0.1:$PORT/scim/v2/bench" \
    --users "$USERS" --groups "$NGROUPS" --members-per-group "$PER_GROUP" --members-per-patch "$PER_PATCH" \
    --member-rounds 1 --phases create,groups,members --server-pid "$SERVER" --json "$TMP/scim.json" >"$TMP/scim.txt"
T1=$(date +%s.%N)
say "SCIM load done; waiting for the last operation to reach the simulator"
status() { "$G" target status --tenant bench ispring; }
while :; do
    s="$(status)"
    if python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["pending"]==0 and s["cursor_seq"]==s["last_seq"] else 1)' "$s"; then
        break
    fi
    sleep 0.1
done
T2=$(date +%s.%N)
curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt"
curl -sf "$SIM/_sim/stats" >"$TMP/stats.json"
curl -sf "$SIM/_sim/state" >"$TMP/state.json"
python3 - "$T0" "$T1" "$T2" "$USERS" "$NGROUPS" "$PER_GROUP" "$PER_PATCH" "$TMP" "$s" <<'PY'
import json, re, sys
t0, t1, t2 = map(float, sys.argv[1:4])
users, groups, per_group, per_patch = map(int, sys.argv[4:8])
tmp, status = sys.argv[8], json.loads(sys.argv[9])
stats = json.load(open(f"{tmp}/stats.json"))
state = json.load(open(f"{tmp}/state.json"))
scim = json.load(open(f"{tmp}/scim.json"))
metrics = open(f"{tmp}/metrics.txt").read()

def metric(name):
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total

# Expected end state: every user in the department of its one group; the rest in root.
dept_names = {d["departmentId"]: d["name"] for d in state["departments"]}
in_dept = {}
for u in state["users"]:
    in_dept[dept_names[u["departmentId"]]] = in_dept.get(dept_names[u["departmentId"]], 0) + 1
root = dept_names[state["rootDepartmentId"]]
expected_root = users - groups * per_group
ok = (len(state["users"]) == users and len(state["departments"]) == groups + 1
      and in_dept.get(root, 0) == expected_root
      and all(n == per_group for d, n in in_dept.items() if d != root))
phases = {p["phase"]: p for p in scim["phases"]}
api_calls = stats["requests"]
out = {
    "users": users, "groups": groups, "members_per_group": per_group, "members_per_patch": per_patch,
    "first_scim_to_last_applied_secs": round(t2 - t0, 2),
    "scim_load_secs": round(t1 - t0, 2),
    "drain_after_scim_secs": round(t2 - t1, 2),
    "scim_phase_secs": {k: v["wall_s"] for k, v in phases.items()},
    "gateway_peak_rss_mb": scim["server"]["peak_rss_mb"],
    "sim_http_calls": api_calls,
    "sim_http_calls_per_user": round(api_calls / users, 3),
    "sim_calls_by_route": dict(sorted(stats["byRoute"].items(), key=lambda kv: -kv[1])),
    "tokens_issued": stats.get("tokensIssued"),
    "gateway_cpu_breakdown_secs": {
        "translate_total": round(metric("plugin_translate_seconds_sum"), 2),
        "translate_calls": int(metric("plugin_translate_seconds_count")),
        "deliver_total": round(metric("plugin_deliver_seconds_sum"), 2),
        "deliver_calls": int(metric("plugin_deliver_seconds_count")),
        "queued_to_delivered_mean": round(metric("outbox_delivery_latency_seconds_sum") / max(1, metric("outbox_delivery_latency_seconds_count")), 2),
    },
    "retried": int(metric("outbox_retried_total")),
    "dead": status["dead"],
    "end_state_as_expected": ok,
}
print(json.dumps(out))
PY
