#!/usr/bin/env bash
# Watch an Entra sync reach iSpring Learn, without an iSpring account: starts the iSpring Learn
# simulator (sims/ispring) and the gateway side by side in a scratch directory, attaches an `ispring`
# target, pushes the requests Entra sends for seed 004's example (Andrey in "Marketing Europe", then
# "Marketing China"), and prints what iSpring holds afterwards. Both servers keep running until Ctrl-C,
# so you can push more (the tenant's token is printed) and look at http://<sim>/_sim/state.
#
#   scripts/demo-ispring.sh                      # departments only (the default)
#   ADD_USERS_TO_GROUPS=true scripts/demo-ispring.sh   # mirror groups too
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
bash scripts/build-plugins.sh >&2
say "building the gateway and the simulator (release)"
cargo build --release -p gateway -p ispring-sim >&2
G="$CARGO_TARGET_DIR/release/gateway"
SIM="$CARGO_TARGET_DIR/release/ispring-sim"
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-demo.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$WORK/gateway.db" GATEWAY_CREDENTIAL_KEY_FILE="$WORK/gateway.key"

"$SIM" --bind 127.0.0.1:0 >"$WORK/sim.out" 2>"$WORK/sim.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM_URL="$(sed -n 's/^listening on //p' "$WORK/sim.out")"
[[ -n "$SIM_URL" ]] || die "the simulator did not start: $(cat "$WORK/sim.log")"
say "iSpring Learn simulator on $SIM_URL (client id sim-client, secret sim-secret)"

TOKEN="$("$G" tenant create contoso | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$G" plugin add "$PLUGINS/ispring.wasm" >/dev/null
CREDENTIAL="{\"type\":\"oauth2-client-credentials\",\"tokenUrl\":\"$SIM_URL/api/v3/token\",\"clientId\":\"sim-client\",\"clientSecret\":\"sim-secret\"}"
"$G" target add --tenant contoso --name ispring --plugin ispring \
    --config "{\"baseUrl\":\"$SIM_URL\",\"addUsersToGroups\":${ADD_USERS_TO_GROUPS:-false}}" \
    --allow-host "$SIM_URL" --allow-http --allow-private --credential "ispring=$CREDENTIAL" >/dev/null

PORT="${PORT:-8080}"
"$G" serve --bind "127.0.0.1:$PORT" --log-format pretty >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
BASE="http://127.0.0.1:$PORT/scim/v2/contoso"
say "gateway on http://127.0.0.1:$PORT; SCIM base $BASE; token $TOKEN"

scim() { curl -sS -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' ${3:+-d "$3"}; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
say "Entra: create user andrey@contoso.com, groups \"Marketing Europe\" and \"Marketing China\", add Andrey to both"
ANDREY="$(scim POST /Users '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"andrey@contoso.com","active":true,"name":{"givenName":"Andrey","familyName":"Petrov"},"emails":[{"primary":true,"type":"work","value":"andrey@contoso.com"}],"title":"Marketing lead"}' | id_of)"
EU="$(scim POST /Groups '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Marketing Europe"}' | id_of)"
CN="$(scim POST /Groups '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Marketing China"}' | id_of)"
for g in "$EU" "$CN"; do
    scim PATCH "/Groups/$g" "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"\$ref\":null,\"value\":\"$ANDREY\"}]}]}" >/dev/null
done
for _ in $(seq 100); do
    [[ "$("$G" target status --tenant contoso ispring | python3 -c 'import json,sys; s=json.load(sys.stdin); print(int(s["pending"] == 0 and s["cursor_seq"] == s["last_seq"]))')" == 1 ]] && break
    sleep 0.2
done
say "what iSpring Learn holds now ($SIM_URL/_sim/state):"
curl -sS "$SIM_URL/_sim/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
names = {d["departmentId"]: d["name"] for d in s["departments"]}
print("departments:", ", ".join(d["name"] for d in s["departments"]))
for u in s["users"]:
    groups = [g["name"] for g in s["groups"] if u["userId"] in g["userIds"]]
    login, dept, status, fields = u["fields"]["login"], names[u["departmentId"]], u["status"], sorted(u["fields"])
    print(f"user {login}: department {dept!r}, groups {groups}, status {status}, fields {fields}")
'
say "requests the simulator saw:"
grep -o 'method=[A-Z]* path=[^ ]* status=[0-9]*' "$WORK/sim.log" | sed 's/^/    /' || true
say "both servers keep running (logs in $WORK); Ctrl-C stops them"
wait
