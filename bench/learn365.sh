#!/usr/bin/env bash
# Initial provisioning into Learn365 (issue 15), results in bench/RESULTS.md:
#
#   bench/learn365.sh [--users 10000] [--groups 100] [--members-per-group 100] [--members-per-patch 25]
#                     [--mapped-groups 20] [--rate-limit 500]
#
# Starts the Learn365 simulator (release build, `--rate-limit` requests per second, 0 = none) and the
# gateway (release, SQLite) with a `learn365` target, creates the courses in the simulator and maps
# `Bench Group 0` .. `Bench Group <mapped-1>` to them, pushes the Entra workload with scim-bench (users,
# then groups, then memberships: every user in exactly one group, `--members-per-patch` members per
# PATCH as Entra batches them), and times from the first SCIM request until the last operation is
# applied in the simulator. Prints one JSON object: wall times, HTTP calls to the simulator (total, per
# user, by route, rate-limited), the simulator's request rate (over the drain, over the busy window, the
# best second) against the configured rate, where the gateway spent its time (translate, deliver,
# queueing, retries, CPU of each process), and a check that the simulator ends in the expected state.
#
# What is mapped: each mapped group g gets its own e-learning course "Bench course g" and its own
# training plan "Bench plan g" made of three more e-learning courses ("Bench plan g course 1..3"), so a
# member of a mapped group ends with 5 active enrollments: the course and the plan (the plugin's Enroll,
# source `direct`) and the plan's 3 courses (Learn365's own training-plan logic, source `tp:<plan>`).
#
# The default rate limit, 500 requests per second: Learn365 publishes no limit (the Power Platform
# connector allows 100 calls a minute, which would make this run take hours); 500/s is below what the
# gateway pushes into the unthrottled single-worker simulator on the 2-core VM (1,300-1,950/s),
# so the run shows how the gateway behaves against a service that throttles it, and whether it then
# runs at the service's rate. `--rate-limit 0` runs unthrottled (the simulator's own speed).
#
# Environment: CARGO_TARGET_DIR, SKIP_BUILD=1, STALL_SECS (give up waiting when operations are dead-lettered
#   and nothing moved for this long, default 60), BENCH_GATEWAY (another gateway binary, for A/B runs),
#   SCIMGW_KV_CACHE=off, PORT (default 18096), GATEWAY_WORKERS (default 1),
#   SIM_LATENCY_MS (added per API request by the simulator, default 0), SIM_WORKERS (default 1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
PORT="${PORT:-18096}"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
USERS=10000 NGROUPS=100 PER_GROUP=100 PER_PATCH=25 MAPPED=20 RATE=500
while (($#)); do
    case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --groups) NGROUPS="$2"; shift 2 ;;
    --members-per-group) PER_GROUP="$2"; shift 2 ;;
    --members-per-patch) PER_PATCH="$2"; shift 2 ;;
    --mapped-groups) MAPPED="$2"; shift 2 ;;
    --rate-limit) RATE="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
    esac
done
((NGROUPS * PER_GROUP <= USERS)) || die "--groups x --members-per-group must not exceed --users"
((MAPPED <= NGROUPS)) || die "--mapped-groups must not exceed --groups"
[[ "$RATE" =~ ^[0-9]+$ ]] || die "--rate-limit takes a number of requests per second (0 = none)"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    bash "$ROOT/scripts/build-plugins.sh" >&2
    (cd "$ROOT" && cargo build --release -p gateway -p bench -p learn365-sim >&2)
fi
G="${BENCH_GATEWAY:-$CARGO_TARGET_DIR/release/gateway}"
[[ -f "$PLUGINS/learn365.wasm" ]] || die "$PLUGINS/learn365.wasm is missing: run scripts/build-plugins.sh"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-learn365-bench.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$TMP/bench.db" GATEWAY_CREDENTIAL_KEY_FILE="$TMP/key" RUST_LOG="${RUST_LOG:-warn}"

SIM_ARGS=(--bind 127.0.0.1:0 --workers "${SIM_WORKERS:-1}")
((RATE > 0)) && SIM_ARGS+=(--rate-limit "$RATE")
RUST_LOG=warn "$CARGO_TARGET_DIR/release/learn365-sim" "${SIM_ARGS[@]}" >"$TMP/sim.out" 2>"$TMP/sim.log" &
SIM_PID=$!
PIDS+=("$SIM_PID")
for _ in $(seq 100); do grep -q listening "$TMP/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM="$(sed -n 's/^listening on //p' "$TMP/sim.out")"
[[ -n "$SIM" ]] || die "the simulator did not start: $(cat "$TMP/sim.log")"
if [[ "${SIM_LATENCY_MS:-0}" != 0 ]]; then
    curl -sf -X POST "$SIM/_sim/faults" -H 'Content-Type: application/json' -d "{\"latencyMs\":$SIM_LATENCY_MS}" >/dev/null
fi

# The courses and training plans, and the target configuration mapping Bench Group 0..MAPPED-1.
python3 - "$SIM" "$MAPPED" "$TMP/config.json" "$TMP/items.json" <<'PY'
import json, sys, urllib.request
sim, mapped, config_path, items_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def create(body):
    req = urllib.request.Request(f"{sim}/_sim/courses", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]

mappings, items = [], {}
for g in range(mapped):
    course = create({"title": f"Bench course {g}", "courseType": "ELearning", "courseId": f"B{g}-C"})
    parts = [create({"title": f"Bench plan {g} course {k}", "courseType": "ELearning", "courseId": f"B{g}-P{k}"})
             for k in (1, 2, 3)]
    plan = create({"title": f"Bench plan {g}", "courseType": "TrainingPlan", "courses": parts})
    group = f"Bench Group {g}"
    mappings.append({"group": group, "courses": [course], "trainingPlans": [plan]})
    items[group] = {"course": course, "plan": plan, "planCourses": parts}
json.dump({"baseUrl": sim, "courseMappings": mappings}, open(config_path, "w"))
json.dump(items, open(items_path, "w"))
PY

TOKEN="$("$G" tenant create bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$G" plugin add "$PLUGINS/learn365.wasm" >/dev/null
"$G" target add --tenant bench --name learn365 --plugin learn365 --config "@$TMP/config.json" \
    --allow-host "$SIM" --allow-http --allow-private --credential "learn365=api:sim-full-key" >/dev/null
GATEWAY_WORKERS="${GATEWAY_WORKERS:-1}" "$G" serve --bind "127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null && curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null ||
    die "the gateway did not start (is port $PORT taken? set PORT): $(tail -5 "$TMP/server.log")"

# The simulator's counters four times a second, for its request rate over time.
python3 - "$SIM" "$TMP/rate.txt" "$TMP/stop" <<'PY' &
import json, os, sys, time, urllib.request
sim, out, stop = sys.argv[1:4]
with open(out, "w") as f:
    while not os.path.exists(stop):
        t = time.time()
        try:
            with urllib.request.urlopen(f"{sim}/_sim/stats", timeout=5) as r:
                s = json.load(r)
            f.write(f"{t:.3f} {s['requests']} {s.get('rateLimited', 0)}\n")
            f.flush()
        except Exception:
            pass
        time.sleep(max(0.0, 0.25 - (time.time() - t)))
PY
PIDS+=($!)

cpu_secs() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
say "pushing $USERS users, $NGROUPS groups, $((NGROUPS * PER_GROUP)) memberships ($PER_PATCH per PATCH); $MAPPED groups mapped; rate limit ${RATE}/s"
CPU0="$(cpu_secs "$SERVER") $(cpu_secs "$SIM_PID")"
T0=$(date +%s.%N)
SCIM_BENCH_TOKEN="$TOKEN" "$CARGO_TARGET_DIR/release/scim-bench" --base-url "http://127.0.0.1:$PORT/scim/v2/bench" \
    --users "$USERS" --groups "$NGROUPS" --members-per-group "$PER_GROUP" --members-per-patch "$PER_PATCH" \
    --member-rounds 1 --phases create,groups,members --server-pid "$SERVER" --json "$TMP/scim.json" >"$TMP/scim.txt"
T1=$(date +%s.%N)
say "SCIM load done; waiting for the last operation to reach the simulator"
status() { "$G" target status --tenant bench learn365; }
# Done: everything translated and delivered. Stalled: dead-lettered operations block their users'
# later ones and nothing has moved for STALL_SECS (default 60); the result then says so.
TT="" STALLED=false LAST="" SINCE=$(date +%s)
while :; do
    s="$(status)"
    r="$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); c=s["cursor_seq"]==s["last_seq"]; print(("done" if c and s["pending"]==0 else "translated") if c else "busy", s["pending"], s["dead"])' "$s")"
    [[ "$r" != busy* && -z "$TT" ]] && TT=$(date +%s.%N)
    [[ "$r" == done* ]] && break
    if [[ "$r" != "$LAST" ]]; then
        LAST="$r" SINCE=$(date +%s)
    elif [[ "${r##* }" != 0 ]] && (($(date +%s) - SINCE > ${STALL_SECS:-60})); then
        say "stalled: $r (state pending dead) for ${STALL_SECS:-60} s"
        STALLED=true
        break
    fi
    sleep 0.1
done
T2=$(date +%s.%N)
CPU1="$(cpu_secs "$SERVER") $(cpu_secs "$SIM_PID")"
touch "$TMP/stop"
curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt"
curl -sf "$SIM/_sim/stats" >"$TMP/stats.json"
curl -sf "$SIM/_sim/state" >"$TMP/state.json"
STALLED="$STALLED" python3 - "$T0" "$T1" "$T2" "${TT:-$T2}" "$USERS" "$NGROUPS" "$PER_GROUP" "$PER_PATCH" "$MAPPED" "$RATE" "$TMP" "$s" \
    "$CPU0" "$CPU1" <<'PY'
import json, os, sys
t0, t1, t2, tt = map(float, sys.argv[1:5])
users, groups, per_group, per_patch, mapped, rate = map(int, sys.argv[5:11])
tmp, status = sys.argv[11], json.loads(sys.argv[12])
cpu0, cpu1 = [list(map(float, a.split())) for a in sys.argv[13:15]]
stats = json.load(open(f"{tmp}/stats.json"))
state = json.load(open(f"{tmp}/state.json"))
scim = json.load(open(f"{tmp}/scim.json"))
items = json.load(open(f"{tmp}/items.json"))
metrics = open(f"{tmp}/metrics.txt").read()

def metric(name):
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total

# The simulator's rate: served requests (not rate-limited) per second, from the samples.
samples = []
for line in open(f"{tmp}/rate.txt"):
    t, req, limited = line.split()
    samples.append((float(t), int(req) - int(limited), int(limited)))
def served_at(t):
    """Served requests at time t (the last sample at or before t)."""
    best = samples[0][1] if samples else 0
    for ts, n, _ in samples:
        if ts <= t:
            best = n
    return best
served_total = stats["requests"] - stats.get("rateLimited", 0)
drain_served = served_total - served_at(t1)
first_busy = next((s[0] for s in samples if s[1] > 0), t0)
last_busy = next((s[0] for s in samples if s[1] >= served_total), t2)
peak = 0.0
for i, (ts, n, _) in enumerate(samples):
    for tj, nj, _ in samples[i + 1:]:
        if tj - ts >= 0.99:
            peak = max(peak, (nj - n) / (tj - ts))
            break

# Expected end state: every user present; a member of a mapped group actively enrolled in its
# group's course and plan (source direct) and in the plan's 3 courses (source tp:<plan>, part of the
# plan), a learner of the plan with nothing locked; no other active enrollment.
login = lambda i: f"i:0#.f|membership|user{i:06}@bench.example.com"
expected = {}
for g in range(mapped):
    it = items[f"Bench Group {g}"]
    for i in range(g * per_group, (g + 1) * per_group):
        expected[(login(i), it["course"])] = {"direct"}
        expected[(login(i), it["plan"])] = {"direct"}
        for c in it["planCourses"]:
            expected[(login(i), c)] = {f"tp:{it['plan']}"}
active = {(e["loginName"].lower(), e["courseId"]): e for e in state["enrollments"] if e["active"]}
missing = [k for k in expected if k not in active]
extra = [k for k in active if k not in expected]
wrong_sources = [k for k, src in expected.items() if k in active and set(active[k]["sources"]) != src]
not_in_plan = [k for k, src in expected.items()
               if k in active and next(iter(src)).startswith("tp:") and not active[k]["isPartOfTrainingPlan"]]
group_principals = sum(1 for e in state["enrollments"] if e["principalType"] != "user")
plan_ids = {items[f"Bench Group {g}"]["plan"] for g in range(mapped)}
learners = [l for l in state["trainingPlanLearners"] if l["active"] and l["trainingPlanId"] in plan_ids]
locked = sum(1 for l in learners if l["lockedCourses"])
logins = {u["loginName"].lower() for u in state["users"]}
users_ok = logins == {login(i) for i in range(users)}
ok = (users_ok and not missing and not extra and not wrong_sources and not not_in_plan and group_principals == 0
      and len(learners) == mapped * per_group and locked == 0)
phases = {p["phase"]: p for p in scim["phases"]}
api_calls = stats["requests"]
translate_sum, translate_n = metric("plugin_translate_seconds_sum"), metric("plugin_translate_seconds_count")
out = {
    "users": users, "groups": groups, "members_per_group": per_group, "members_per_patch": per_patch,
    "mapped_groups": mapped, "rate_limit_per_sec": rate or None,
    "first_scim_to_last_applied_secs": round(t2 - t0, 2),
    "scim_load_secs": round(t1 - t0, 2),
    "drain_after_scim_secs": round(t2 - t1, 2),
    "first_scim_to_all_translated_secs": round(tt - t0, 2),
    "scim_phase_secs": {k: v["wall_s"] for k, v in phases.items()},
    "gateway_peak_rss_mb": scim["server"]["peak_rss_mb"],
    "sim_http_calls": api_calls,
    "sim_http_calls_served": served_total,
    "sim_http_calls_rate_limited": stats.get("rateLimited", 0),
    "sim_http_calls_per_user": round(api_calls / users, 3),
    "sim_http_calls_served_per_user": round(served_total / users, 3),
    "sim_calls_by_route": dict(sorted(stats["byRoute"].items(), key=lambda kv: -kv[1])),
    "sim_calls_by_status": stats["byStatus"],
    "sim_rate_per_sec": {
        "configured": rate or None,
        "drain": round(drain_served / max(1e-9, t2 - t1), 1),
        "busy_window": round(served_total / max(1e-9, last_busy - first_busy), 1),
        "busy_window_secs": round(last_busy - first_busy, 2),
        "first_call_after_first_scim_secs": round(first_busy - t0, 2),
        "best_second": round(peak, 1),
    },
    "gateway_breakdown": {
        "translate_total_secs": round(translate_sum, 2),
        "translate_calls": int(translate_n),
        "translate_per_change_us": round(1e6 * translate_sum / max(1, translate_n), 1),
        "deliver_total_secs": round(metric("plugin_deliver_seconds_sum"), 2),
        "deliver_calls": int(metric("plugin_deliver_seconds_count")),
        "deliver_mean_ms": round(1e3 * metric("plugin_deliver_seconds_sum") / max(1, metric("plugin_deliver_seconds_count")), 2),
        "deliveries_in_flight_mean": round(metric("plugin_deliver_seconds_sum") / max(1e-9, t2 - t0), 1),
        "queued_to_delivered_mean_secs": round(metric("outbox_delivery_latency_seconds_sum") / max(1, metric("outbox_delivery_latency_seconds_count")), 2),
        "retried": int(metric("outbox_retried_total")),
        "gateway_cpu_secs": round(cpu1[0] - cpu0[0], 2),
        "sim_cpu_secs": round(cpu1[1] - cpu0[1], 2),
    },
    "dead": status["dead"],
    "stalled": os.environ.get("STALLED") == "true",
    "end_state": {
        "users": len(state["users"]),
        "active_enrollments": len(active), "expected": len(expected),
        "missing": len(missing), "extra": len(extra), "wrong_sources": len(wrong_sources),
        "plan_courses_not_part_of_plan": len(not_in_plan), "group_enrollments": group_principals,
        "plan_learners": len(learners), "learners_with_locked_courses": locked,
        "notifications": len(state["notifications"]),
        "examples": [list(k) for k in (missing[:2] + extra[:2] + wrong_sources[:2])],
    },
    "end_state_as_expected": ok,
}
print(json.dumps(out))
PY
