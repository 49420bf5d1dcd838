#!/usr/bin/env bash
# Watch the Learn365 Assigner fill an Entra group from rules, without Learn365 or Entra: starts the
# Learn365 simulator (sims/learn365, which serves the Microsoft Graph subset too) and the gateway on a
# virtual clock side by side in a scratch directory, attaches a `learn365` target with the Assigner on
# (Graph at the simulator, an `entra-app` client-credentials credential), pushes five Entra users with
# their city, position and department, saves the Assigner settings and creates the profile "Customer
# Success Managers in Las Vegas, San Diego or Denver" with `gateway assigner`. Then it moves the
# clock through the first data refresh and a maintenance and prints the profile's preview, the Entra
# group the maintenance created (with its members), the run records and the member list (CSV, and an
# Excel file in the scratch directory). Then Ben
# moves from Denver to Chicago in Entra; the next refresh and maintenance take him out of the group.
# Both servers keep running until Ctrl-C (the tenant's token and the admin token are printed), so you
# can change users, profiles and settings and move the clock on yourself:
#
#   curl -X POST http://127.0.0.1:$PORT/admin/v1/clock/advance -H "Authorization: Bearer <admin token>" \
#        -H 'Content-Type: application/json' -d '{"to": "2026-03-02T09:00:00Z"}'
#
#   scripts/demo-assigner.sh                 # the gateway on PORT (default 8080)
#   SKIP_BUILD=1 scripts/demo-assigner.sh    # use the plugin and release binaries already built
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    bash scripts/build-plugins.sh >&2
    say "building the gateway and the simulator (release)"
    cargo build --release -p gateway -p learn365-sim >&2
fi
G="$CARGO_TARGET_DIR/release/gateway"
SIM="$CARGO_TARGET_DIR/release/learn365-sim"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
[[ -x "$G" && -x "$SIM" ]] || die "$G or $SIM is missing: run without SKIP_BUILD=1"
[[ -f "$PLUGINS/learn365.wasm" ]] || die "$PLUGINS/learn365.wasm is missing: run scripts/build-plugins.sh"

# The virtual clock starts on a Monday at 02:10 UTC, between the default refresh hours (02, 05, 08, …)
# and maintenance hours (00, 03, 06, …): the first refresh comes 5 minutes after the settings (02:15),
# the first maintenance at 03:00.
START=2026-03-02T02:10:00Z
PREFIX="ASG-"
TITLE="Customer Success Managers in Las Vegas, San Diego or Denver"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-demo.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
ADMIN_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export DATABASE_URL="sqlite://$WORK/gateway.db" GATEWAY_CREDENTIAL_KEY_FILE="$WORK/gateway.key"

"$SIM" --bind 127.0.0.1:0 >"$WORK/sim.out" 2>"$WORK/sim.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM_URL="$(sed -n 's/^listening on //p' "$WORK/sim.out")"
[[ -n "$SIM_URL" ]] || die "the simulator did not start: $(cat "$WORK/sim.log")"
say "Learn365 simulator (and Microsoft Graph) on $SIM_URL (API key sim-full-key; Graph client sim-graph-client)"

TOKEN="$("$G" tenant create contoso | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$G" plugin add "$PLUGINS/learn365.wasm" >/dev/null
# The Entra app registration, as an OAuth2 client-credentials credential (the gateway fetches the token).
ENTRA_APP="$(printf '{"type":"oauth2-client-credentials","tokenUrl":"%s","clientId":"%s","clientSecret":"%s","scope":"%s"}' \
    "$SIM_URL/contoso.onmicrosoft.com/oauth2/v2.0/token" sim-graph-client sim-graph-secret https://graph.microsoft.com/.default)"
"$G" target add --tenant contoso --name learn365 --plugin learn365 \
    --config "{\"baseUrl\":\"$SIM_URL\",\"assigner\":{\"graphBaseUrl\":\"$SIM_URL\"}}" \
    --allow-host "$SIM_URL" --allow-http --allow-private \
    --credential "learn365=api:sim-full-key" --credential "entra-app=$ENTRA_APP" >/dev/null
say "target learn365 with the Assigner on: credentials learn365 (Full control key) and entra-app (Graph client credentials)"

PORT="${PORT:-8080}"
GATEWAY_ADMIN_TOKEN="$ADMIN_TOKEN" "$G" serve --bind "127.0.0.1:$PORT" --log-format pretty --virtual-clock "$START" \
    >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway did not start (is port $PORT taken? set PORT): $(tail -3 "$WORK/gateway.log")"
BASE="http://127.0.0.1:$PORT/scim/v2/contoso"
say "gateway on http://127.0.0.1:$PORT, virtual clock at $START; SCIM base $BASE; token $TOKEN; admin token $ADMIN_TOKEN"

scim() { curl -sS --fail-with-body -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' ${3:+-d "$3"}; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# An Entra-shaped user: userName = UPN, externalId = objectId, title = job title (the Assigner's
# Position), the work address's locality (City), the enterprise extension's department.
user_json() { # upn objectId given family position department city
    cat <<EOF
{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"$2","userName":"$1","active":true,"displayName":"$3 $4",
 "name":{"formatted":"$3 $4","givenName":"$3","familyName":"$4"},
 "emails":[{"primary":true,"type":"work","value":"$1"}],"title":"$5",
 "addresses":[{"type":"work","locality":"$7","country":"US","primary":true}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"$6","organization":"Contoso"}}
EOF
}
wait_applied() {
    for _ in $(seq 150); do
        [[ "$("$G" target status --tenant contoso learn365 | python3 -c 'import json,sys; s=json.load(sys.stdin); print(int(s["pending"] == 0 and s["cursor_seq"] == s["last_seq"]))')" == 1 ]] && return
        sleep 0.2
    done
    say "the target has not caught up after 30 s: $("$G" target status --tenant contoso learn365)"
}
assigner() { "$G" assigner "$@" --tenant contoso; }
# Moves the virtual clock (every job due on the way runs to its end) and prints the runs that did something.
# A running gateway sees kv writes another process made (the CLI's `gateway assigner`) within 2 s: wait
# that long first, so the jobs see the settings and profiles just written.
advance() {
    sleep 2.5
    curl -sS --fail-with-body -X POST "http://127.0.0.1:$PORT/admin/v1/clock/advance" \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d "{\"to\":\"$1\"}" |
        show advance
    wait_applied
}
cat >"$WORK/show.py" <<'PY'
import json, sys

what, path = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
if what == "preview":
    print(f"    computed from the data refresh of {doc['snapshotAt']}: {doc['count']} members")
    for m in doc["members"]:
        print(f"    {m['upn']:22} {m['displayName']:14} {m['id']}")
elif what == "group":
    state = json.load(open(sys.argv[3]))
    upn = {u["directoryObjectId"]: u["loginName"].rsplit("|", 1)[-1] for u in state["users"] if u["directoryObjectId"]}
    people = {u["directoryObjectId"]: u for u in state["users"] if u["directoryObjectId"]}
    groups = [g for g in state["graphGroups"] if g["displayName"].startswith(sys.argv[4])]
    if not groups:
        print("    (no group yet)")
    for g in groups:
        print(f"    \"{g['displayName']}\"  (id {g['id']}, mailNickname {g['mailNickname']})")
        for m in sorted(g["members"], key=lambda m: upn.get(m, m)):
            u = people.get(m, {})
            print(f"      {upn.get(m, m):22} {u.get('jobTitle', ''):26} {u.get('city', '')}")
elif what == "runs":
    for r in doc["runs"][: int(sys.argv[3])]:
        print(f"    {r['kind']:11} scheduled {r['scheduledAt']}  finished {r['finishedAt']}  {r['result']}")
        if r.get("summary"):
            print(f"      {r['summary']}")
        for p in r["profiles"]:
            extra = "".join(f", {k}: {p[k]}" for k in ("failed", "skipped") if p.get(k))
            print(f"      profile {p['id']} \"{p['title']}\": +{p['added']} -{p['removed']}, "
                  f"throttled {str(p['throttled']).lower()}, enrollment operations {p['enrollmentOperations']}{extra}")
elif what == "advance":
    idle = ("nothing due", "nothing to do")
    ran = [j for j in doc["runs"] if not any(w in (j["summary"] or "") for w in idle)]
    print(f"    clock now {doc['now']}; {len(doc['runs'])} job runs on the way, {len(doc['runs']) - len(ran)} of them "
          f"with nothing to do (the jobs look every 5 minutes or every hour), and:")
    for j in ran:
        print(f"    {j['scheduled_at']}  {j['job']:20} {j['result']}: {j['summary'] or ''}")
elif what == "notifications":
    for n in doc:
        print(f"    {n['kind']} to {n['recipient']} ({n['delivery']}): {n['subject']}")
elif what == "settings":
    s = doc
    print(f"    contact {s['contactEmail']}, group name prefix {s['entraGroupPrefix']!r}, "
          f"excludeDisabledUsers {str(s['excludeDisabledUsers']).lower()}")
    print(f"    data refresh at {s['schedule']['refresh']} UTC, maintenance at {s['schedule']['maintenance']} UTC")
PY
show() { # what [extra args]: reads the document from stdin
    cat >"$WORK/doc.json"
    python3 "$WORK/show.py" "$1" "$WORK/doc.json" "${@:2}"
}
show_group() {
    curl -sS "$SIM_URL/_sim/state" >"$WORK/state.json"
    echo '{}' | show group "$WORK/state.json" "$PREFIX"
}

say "Entra: five users with their city, job title (the Assigner's Position) and department"
OID=7c1f0a52-1d3e-4b6a-9f10-00000000a00   # + 1..5: the users' Entra object ids
CSM='Customer Success Manager'
scim POST /Users "$(user_json ava@contoso.com "${OID}1" Ava Reyes "$CSM" 'Customer Success' 'Las Vegas')" >/dev/null
BEN="$(scim POST /Users "$(user_json ben@contoso.com "${OID}2" Ben Moreau "$CSM" 'Customer Success' Denver)" | id_of)"
scim POST /Users "$(user_json cleo@contoso.com "${OID}3" Cleo Park 'customer success manager' 'Customer Success' 'san diego ')" >/dev/null
scim POST /Users "$(user_json dan@contoso.com "${OID}4" Dan Olsen 'Sales Manager' Sales Denver)" >/dev/null
scim POST /Users "$(user_json eve@contoso.com "${OID}5" Eve Novak "$CSM" 'Customer Success' Boston)" >/dev/null
wait_applied
cat <<'EOF' >&2
    ava@contoso.com   Customer Success Manager   Las Vegas
    ben@contoso.com   Customer Success Manager   Denver
    cleo@contoso.com  customer success manager   "san diego " (rules ignore case and surrounding spaces)
    dan@contoso.com   Sales Manager              Denver
    eve@contoso.com   Customer Success Manager   Boston
EOF
say "they are Learn365 users now (the sync); the Assigner only considers users present in Learn365"

say "Assigner settings (gateway assigner settings --tenant contoso --set …):"
assigner settings --set "{\"contactEmail\":\"lms-admin@contoso.com\",\"entraGroupPrefix\":\"$PREFIX\"}" | show settings

PROFILE="$(cat <<EOF
{"title": "$TITLE",
 "description": "CSMs of the western offices",
 "enroll": false, "courses": [], "autoPopulate": true, "throttle": {"maxChanges": 10},
 "properties": {"op": "AND", "children": [
   {"op": "OR", "children": [{"source": "City", "value": "Las Vegas"}, {"source": "City", "value": "San Diego"},
                             {"source": "City", "value": "Denver"}]},
   {"source": "Position", "condition": "equals", "value": "Customer Success Manager"}]}}
EOF
)"
say "a profile (gateway assigner create --tenant contoso @profile.json):"
sed 's/^/    /' <<<"$PROFILE" >&2
printf '%s' "$PROFILE" >"$WORK/profile.json"
P="$(assigner create "@$WORK/profile.json" | id_of)"
say "created profile $P"

say "advance the clock to 02:15: the first data refresh (5 minutes after the settings)"
advance 2026-03-02T02:15:00Z
say "the profile's preview (gateway assigner preview --tenant contoso $P): the rules on the last refresh, no Graph call"
assigner preview "$P" | show preview
say "the Entra group before the first maintenance:"
show_group

say "advance the clock to 03:00: the maintenance (the tenant is locked while it runs)"
advance 2026-03-02T03:00:00Z
say "the Entra group the maintenance created (the simulator's Graph, /_sim/state graphGroups):"
show_group
say "the run records (gateway assigner runs --tenant contoso), newest first:"
assigner runs | show runs 5
say "the member list the maintenance wrote (gateway assigner members --tenant contoso $P --format csv --out -):"
assigner members "$P" --format csv --out - | sed 's/^/    /' >&2
say "and as an Excel file (--format xlsx --out …):"
assigner members "$P" --format xlsx --out "$WORK/members.xlsx" | sed 's/^/    /' >&2
say "notifications to the contact (gateway target notifications --tenant contoso learn365):"
"$G" target notifications --tenant contoso learn365 | show notifications

say "Entra: Ben moves from Denver to Chicago (PATCH addresses[type eq \"work\"].locality)"
scim PATCH "/Users/$BEN" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Chicago"}]}' >/dev/null
wait_applied
say "advance the clock to 05:00: the next data refresh"
advance 2026-03-02T05:00:00Z
say "the preview already leaves Ben out:"
assigner preview "$P" | show preview
say "the Entra group is unchanged until the maintenance:"
show_group
say "advance the clock to 06:00: the maintenance"
advance 2026-03-02T06:00:00Z
say "the Entra group now:"
show_group
say "the latest run records:"
assigner runs | show runs 2
say "the member list now:"
assigner members "$P" --format csv --out - | sed 's/^/    /' >&2
say "Graph requests the simulator saw:"
grep -o 'method=[A-Z]* path=/v1.0[^ ]* status=[0-9]*' "$WORK/sim.log" | sed -E 's/[0-9a-f]{8}-[0-9a-f-]{27}/{id}/g' |
    sort | uniq -c | sed 's/^ */    /' || true

say "both servers keep running (logs in $WORK); move the clock on with"
say "  curl -X POST http://127.0.0.1:$PORT/admin/v1/clock/advance -H 'Authorization: Bearer $ADMIN_TOKEN' -H 'Content-Type: application/json' -d '{\"to\":\"2026-03-02T09:00:00Z\"}'"
say "Ctrl-C stops them"
wait
