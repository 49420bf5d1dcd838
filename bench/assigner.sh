#!/usr/bin/env bash
# The Assigner's evaluation inside the learn365 plugin (issue 16), results in bench/RESULTS.md:
#
#   bench/assigner.sh [USERS ...]          # default: 10000 30000 100000
#
# For each size, writes the benchmark tenant (plugins/learn365/examples/support/data.rs: users with
# realistic attributes, 4 custom fields, 40 courses, ~4 enrollments each; 20 profiles of mixed rules;
# the current groups with 2 % of their members swapped out) as two `gateway plugin test` fixtures (the
# plugin's `bench_fixture` tests) and runs each RUNS times (default 5) in the release gateway: the wasm
# component under the gateway's limits for job calls.
#
# - plan: the maintenance's plan call, the whole evaluation: it reads the snapshot's chunks from kv and
#   decodes them, resolves (A8), compiles and matches every profile, computes members, diffs and
#   throttling, and writes each profile's plan and member list back to kv (one call per maintenance);
# - build: one call of the data refresh's build phase: 5,000 directory users read and joined with the
#   presence of all USERS Learn365 users, their snapshot lines written (a refresh makes USERS / 5,000).
#
# Prints one JSON line per size and call: the fixture's size, the median and range of the call's wall
# time, fuel and peak guest memory.
#
# Environment: CARGO_TARGET_DIR, SKIP_BUILD=1, RUNS, BENCH_GATEWAY (another gateway binary, for A/B runs),
#   FIXTURES (where the fixtures go, default a temporary folder, removed at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
ensure_rust
PLUGINS="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
RUNS="${RUNS:-5}"
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(10000 30000 100000)

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    bash "$ROOT/scripts/build-plugins.sh" >&2
    (cd "$ROOT" && cargo build --release -p gateway >&2)
fi
GATEWAY="${BENCH_GATEWAY:-$CARGO_TARGET_DIR/release/gateway}"
[[ -x "$GATEWAY" ]] || die "$GATEWAY is missing: cargo build --release -p gateway"
[[ -f "$PLUGINS/learn365.wasm" ]] || die "$PLUGINS/learn365.wasm is missing: run scripts/build-plugins.sh"

if [[ -n "${FIXTURES:-}" ]]; then
    mkdir -p "$FIXTURES"
else
    FIXTURES="$(mktemp -d)"
    trap 'rm -rf "$FIXTURES"' EXIT
fi

summary() { # users, call, fixture file, run outputs…
    python3 - "$@" <<'PY'
import json, os, statistics, sys
n, call, fixture, files = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
fx = [json.load(open(f))["fixtures"][0] for f in files]
def stat(f):
    v = sorted(f(x) for x in fx)
    return {"median": round(statistics.median(v), 1), "min": round(v[0], 1), "max": round(v[-1], 1)}
print(json.dumps({
    "users": n, "call": call, "fixture_mb": round(os.path.getsize(fixture) / 1e6, 1), "runs": len(fx),
    "passed": all(x["passed"] for x in fx),
    "error": next((x["message"] for x in fx if not x["passed"]), None),
    "ms": stat(lambda x: x["stats"]["micros"] / 1000),
    "fuel_millions": stat(lambda x: x["stats"]["fuel"] / 1e6),
    "peak_guest_mib": stat(lambda x: x["stats"]["peak_memory_bytes"] / 2**20),
}))
PY
}

for n in "${SIZES[@]}"; do
    for call in plan build; do
        dir="$FIXTURES/$n-$call"
        mkdir -p "$dir"
        test_name=bench_fixture
        [[ $call == build ]] && test_name=bench_refresh_fixture
        say "writing the $call fixture over $n users"
        (cd "$ROOT/plugins" && SCIMGW_BENCH_FIXTURES="$dir" SCIMGW_BENCH_USERS="$n" \
            CARGO_TARGET_DIR="$SCIMGW_CACHE/plugins-native" \
            cargo test --release --locked -q -p scimgw-plugin-learn365 "$test_name" -- --ignored --exact \
            "tests::bench_fixture::$test_name" >&2)
        if [[ $call == build ]]; then
            # Its expectations are what this plugin writes (a first, untimed run fills them in).
            "$GATEWAY" plugin test "$PLUGINS/learn365.wasm" --fixtures "$dir" --update >/dev/null
        fi
        for i in $(seq 1 "$RUNS"); do
            say "$call call, run $i of $RUNS ($n users)"
            "$GATEWAY" plugin test "$PLUGINS/learn365.wasm" --fixtures "$dir" --json >"$FIXTURES/run-$n-$call-$i.json" || true
        done
        summary "$n" "$call" "$dir"/*.json "$FIXTURES"/run-"$n"-"$call"-*.json
    done
done
