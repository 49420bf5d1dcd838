#!/usr/bin/env bash
# Watch an Entra sync reach Learn365, without a Learn365 tenant: starts the Learn365 simulator
# (sims/learn365, `--seed demo`: a catalog, six courses and the training plan "Getting started with
# LMS365") and the gateway side by side in a scratch directory, attaches a `learn365` target that maps
# the Entra group "New hires" to that training plan and to the course "Microsoft Teams basics", pushes
# the requests Entra sends (three users, the group, two of them as members), and prints what Learn365
# holds afterwards: users, enrollments with their sources, and the plan's learners with status and
# progress. Then one new hire completes a course of the plan, the other leaves the group, and it prints
# the result again. Both servers keep running until Ctrl-C, so you can push more (the tenant's token is
# printed) and look at http://<sim>/_sim/state.
#
#   scripts/demo-learn365.sh            # the gateway on PORT (default 8080)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
bash scripts/build-plugins.sh >&2
say "building the gateway and the simulator (release)"
cargo build --release -p gateway -p learn365-sim >&2
G="$CARGO_TARGET_DIR/release/gateway"
SIM="$CARGO_TARGET_DIR/release/learn365-sim"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"

# The demo tenant's fixed ids (sims/learn365/README.md).
PLAN=0d3e6a51-0000-4000-8000-000000000301   # training plan "Getting started with LMS365" = LMS-101..103
TEAMS=0d3e6a51-0000-4000-8000-000000000104  # e-learning "Microsoft Teams basics" (M365-201)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-demo.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$WORK/gateway.db" GATEWAY_CREDENTIAL_KEY_FILE="$WORK/gateway.key"

"$SIM" --bind 127.0.0.1:0 --seed demo >"$WORK/sim.out" 2>"$WORK/sim.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM_URL="$(sed -n 's/^listening on //p' "$WORK/sim.out")"
[[ -n "$SIM_URL" ]] || die "the simulator did not start: $(cat "$WORK/sim.log")"
say "Learn365 simulator on $SIM_URL (API key sim-full-key, HTTP Basic user api)"

TOKEN="$("$G" tenant create contoso | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$G" plugin add "$PLUGINS/learn365.wasm" >/dev/null
CONFIG="{\"baseUrl\":\"$SIM_URL\",\"courseMappings\":[{\"group\":\"New hires\",\"courses\":[\"$TEAMS\"],\"trainingPlans\":[\"$PLAN\"]}]}"
"$G" target add --tenant contoso --name learn365 --plugin learn365 --config "$CONFIG" \
    --allow-host "$SIM_URL" --allow-http --allow-private --credential "learn365=api:sim-full-key" >/dev/null
say "target learn365: group \"New hires\" -> training plan \"Getting started with LMS365\" + course \"Microsoft Teams basics\""

PORT="${PORT:-8080}"
"$G" serve --bind "127.0.0.1:$PORT" --log-format pretty >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway did not start (is port $PORT taken? set PORT): $(tail -3 "$WORK/gateway.log")"
BASE="http://127.0.0.1:$PORT/scim/v2/contoso"
say "gateway on http://127.0.0.1:$PORT; SCIM base $BASE; token $TOKEN"

scim() { curl -sS --fail-with-body -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' ${3:+-d "$3"}; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# An Entra-shaped user: userName = UPN, externalId = objectId, the enterprise extension.
user_json() { # upn objectId given family title department city
    cat <<EOF
{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"$2","userName":"$1","active":true,"displayName":"$3 $4",
 "name":{"formatted":"$3 $4","givenName":"$3","familyName":"$4"},
 "emails":[{"primary":true,"type":"work","value":"$1"}],"title":"$5",
 "addresses":[{"type":"work","locality":"$7","country":"DK","primary":true}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"$6","organization":"Contoso"}}
EOF
}
members() { # op id...
    local op="$1" v="" id
    shift
    for id in "$@"; do v+="${v:+,}{\"value\":\"$id\"}"; done
    echo "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"$op\",\"path\":\"members\",\"value\":[$v]}]}"
}
wait_applied() {
    for _ in $(seq 150); do
        [[ "$("$G" target status --tenant contoso learn365 | python3 -c 'import json,sys; s=json.load(sys.stdin); print(int(s["pending"] == 0 and s["cursor_seq"] == s["last_seq"]))')" == 1 ]] && return
        sleep 0.2
    done
    say "the target has not caught up after 30 s: $("$G" target status --tenant contoso learn365)"
}
cat >"$WORK/show.py" <<'PY'
import json, sys
s = json.load(sys.stdin)
title = {c["id"]: (c["code"] or "plan", c["title"]) for c in s["courses"]}
name = lambda login: login.rsplit("|", 1)[-1]
print("  users:")
print(f"    {'(login)':18} {'(Title)':11} {'(JobTitle)':17} {'(Department)':12} (City)")
for u in s["users"]:
    flags = " (disabled)" if u["isDisabled"] else ""
    print(f"    {name(u['loginName']):18} {u['title']:11} {u['jobTitle']:17} {u['department']:12} {u['city']}{flags}")
print("  enrollments:")
if not s["enrollments"]:
    print("    (none)")
order = lambda e: (e["loginName"], e["courseType"] != "TrainingPlan", title[e["courseId"]][0])
for e in sorted(s["enrollments"], key=order):
    code, t = title[e["courseId"]]
    sources = ", ".join(e["sources"]) or "-"
    progress = f"{e['passingStatus']} {e['progress']}%" if e["active"] else "progress kept, not shown"
    part = ", part of the plan" if e["isPartOfTrainingPlan"] else ""
    print(f"    {name(e['loginName']):18} {code:8} {t[:31]:31} {e['status']:9} {progress:24} sources: {sources}{part}")
print("  learners of the training plan:")
if not s["trainingPlanLearners"]:
    print("    (none)")
for l in sorted(s["trainingPlanLearners"], key=lambda l: l["loginName"]):
    state = "enrolled" if l["active"] else "not enrolled"
    courses = ", ".join(f"{title[c['courseId']][0]} {c['status'] or 'locked'}" for c in l["courses"])
    print(f"    {name(l['loginName']):18} {title[l['trainingPlanId']][1]!r}: {state}, {l['status']} {l['progress']}% ({courses})")
PY
show() { curl -sS "$SIM_URL/_sim/state" | python3 "$WORK/show.py"; }
sim_requests() {
    grep -o 'method=[A-Z]* path=/odata[^ ]* status=[0-9]*' "$WORK/sim.log" | sed -n "$1,\$p" | sed 's/^/    /' || true
}

say "Entra: create users ann@contoso.com, ben@contoso.com, chen@contoso.com; group \"New hires\"; add Ann and Ben"
ANN="$(scim POST /Users "$(user_json ann@contoso.com 4f9e4b1a-3c2d-4e5f-8a7b-000000000a01 Ann Lee 'Sales assistant' Sales Copenhagen)" | id_of)"
BEN="$(scim POST /Users "$(user_json ben@contoso.com 4f9e4b1a-3c2d-4e5f-8a7b-000000000a02 Ben Okafor 'Developer' Engineering Aarhus)" | id_of)"
CHEN="$(scim POST /Users "$(user_json chen@contoso.com 4f9e4b1a-3c2d-4e5f-8a7b-000000000a03 Chen Wu 'Accountant' Finance Odense)" | id_of)"
NEW="$(scim POST /Groups '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"8d2c7f10-5b4e-4a3d-9c1f-0000000000b1","displayName":"New hires"}' | id_of)"
scim PATCH "/Groups/$NEW" "$(members Add "$ANN" "$BEN")" >/dev/null
wait_applied
say "what Learn365 holds now (Chen is in no mapped group: a user, no enrollments):"
show
say "requests the simulator saw:"
sim_requests 1
SEEN="$(grep -c 'path=/odata' "$WORK/sim.log" || true)"

say "the gateway's record for Ann (gateway target resource --tenant contoso learn365 GET 'enrollments?user=$ANN'):"
"$G" target resource --tenant contoso learn365 GET "enrollments?user=$ANN" | python3 -m json.tool | sed 's/^/    /'

say "Ann completes \"Welcome to LMS365\" in Learn365 (simulated learner activity); Entra: Ben leaves \"New hires\""
curl -sS -f -X POST "$SIM_URL/_sim/progress" -H 'Content-Type: application/json' \
    -d '{"user":"ann@contoso.com","courseId":"LMS-101","status":"Completed"}' >/dev/null
scim PATCH "/Groups/$NEW" "$(members Remove "$BEN")" >/dev/null
wait_applied
say "what Learn365 holds now (Ben's enrollments are cancelled, Ann's plan is 33% done):"
show
say "requests the simulator saw since:"
sim_requests "$((SEEN + 1))"
say "both servers keep running (logs in $WORK); Ctrl-C stops them"
wait
