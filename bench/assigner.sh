#!/usr/bin/env bash
# The Assigner's evaluation inside the learn365 plugin (issue 16), results in bench/RESULTS.md:
#
#   bench/assigner.sh [USERS ...]          # default: 10000 30000 100000
#
# For each size, writes the benchmark tenant (plugins/learn365/examples/support/data.rs: users with
# realistic attributes, 4 custom fields, 40 courses, ~4 enrollments each; 20 profiles of mixed rules;
# the current groups with 2 % of their members swapped out) as a `gateway plugin test` fixture of the
# maintenance's plan call (the plugin's `bench_fixture` test), then runs that fixture RUNS times (default
# 5) in the release gateway: the wasm component under the gateway's limits for job calls. The plan call
# is the whole evaluation: it reads the snapshot's chunks from kv and decodes them, resolves (A8),
# compiles and matches every profile, computes members, diffs and throttling, and writes each profile's
# plan and member list back to kv. Prints one JSON line per size: the fixture's size, and the median and
# range of the call's wall time, fuel and peak guest memory.
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

for n in "${SIZES[@]}"; do
    dir="$FIXTURES/$n"
    mkdir -p "$dir"
    say "writing the fixture: 20 profiles over $n users"
    (cd "$ROOT/plugins" && SCIMGW_BENCH_FIXTURES="$dir" SCIMGW_BENCH_USERS="$n" \
        CARGO_TARGET_DIR="$SCIMGW_CACHE/plugins-native" \
        cargo test --release --locked -q -p scimgw-plugin-learn365 bench_fixture -- --ignored >&2)
    runs=()
    for i in $(seq 1 "$RUNS"); do
        say "run $i of $RUNS ($n users)"
        runs+=("$("$GATEWAY" plugin test "$PLUGINS/learn365.wasm" --fixtures "$dir" --json)")
    done
    printf '%s\n' "${runs[@]}" | python3 -c '
import json, os, statistics, sys
n = int(sys.argv[1]); size = int(sys.argv[2])
rows = [json.loads(line) for line in sys.stdin if line.strip()]
fx = [r["fixtures"][0] for r in rows]
def stat(f):
    v = sorted(f(x) for x in fx)
    return {"median": statistics.median(v), "min": v[0], "max": v[-1]}
print(json.dumps({
    "users": n, "profiles": 20, "fixture_mb": round(size / 1e6, 1), "runs": len(fx),
    "passed": all(x["passed"] for x in fx),
    "error": next((x["message"] for x in fx if not x["passed"]), None),
    "ms": stat(lambda x: x["stats"]["micros"] / 1000),
    "fuel_millions": stat(lambda x: x["stats"]["fuel"] / 1e6),
    "peak_guest_mib": stat(lambda x: x["stats"]["peak_memory_bytes"] / 2**20),
}))' "$n" "$(stat -c %s "$dir"/assigner-plan-"$n".json)"
done
