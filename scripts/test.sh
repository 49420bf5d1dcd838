#!/usr/bin/env bash
# Runs every test: unit and property tests, the integration crate against SQLite and PostgreSQL, then
# the release binary against two third-party SCIM conformance suites (scim2-tester, scim-sanity).
# Installs what it needs (PostgreSQL from Debian's packages, the suites from PyPI into a venv).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
ensure_postgres
command -v curl >/dev/null 2>&1 || apt_install curl
export REQUIRE_POSTGRES=1
# The HTML report is checked in headless Chromium (Debian's package).
command -v chromium >/dev/null 2>&1 || { say "installing Debian's chromium (the report's browser check)"; apt_install chromium; }
export REQUIRE_CHROMIUM=1

# Plugin notifications are e-mailed to a real SMTP server in the tests: aiosmtpd from PyPI, in a venv.
SMTP_VENV="$SCIMGW_CACHE/smtp-venv"
if ! "$SMTP_VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    say "installing aiosmtpd (the SMTP server the notification test sends to) into $SMTP_VENV"
    python3 -m venv "$SMTP_VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$SMTP_VENV"; }
    "$SMTP_VENV/bin/python" -m pip install --disable-pip-version-check --quiet aiosmtpd==1.4.6
fi
export SCIMGW_SMTP_PYTHON="$SMTP_VENV/bin/python" REQUIRE_SMTP=1

say "the layout rules (no import loop, no upward import, no code file over 700 lines, nothing outside the repository)"
python3 scripts/check-layout.py

say "building the WebAssembly plugins (Debian's Rust, -Zbuild-std, componentized)"
bash scripts/build-plugins.sh
export SCIMGW_PLUGINS_DIR="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"

say "the plugins' own tests, natively (iSpring and Learn365 rules against models, random changes)"
CARGO_TARGET_DIR="$SCIMGW_CACHE/plugins-native" cargo test --locked --manifest-path plugins/Cargo.toml \
    -p scimgw-plugin-ispring -p scimgw-plugin-learn365 -p scimgw-plugin-webhook -p scimgw-plugin-sdk

# The integration tests run these from $CARGO_TARGET_DIR/debug and never build them: they refuse a
# missing binary, or one older than its sources, so this build must come first.
say "building the gateway binary and the simulator the integration tests run"
cargo build -p gateway --bin gateway -p ispring-sim --bin ispring-sim -p learn365-sim --bin learn365-sim

say "cargo test --workspace (unit, property, integration on SQLite and PostgreSQL)"
cargo test --workspace --all-targets 2>&1 | tee "$SCIMGW_CACHE/cargo-test.log"

say "building the release binary"
cargo build --release -p gateway
GATEWAY="$CARGO_TARGET_DIR/release/gateway"

say "golden fixtures (gateway plugin test): the plugins we ship (iSpring S1-S9, deliveries over scripted HTTP), a panic, scheduled jobs and admin resources"
: >"$SCIMGW_CACHE/fixtures.log"
for p in webhook:webhook template:template ispring:ispring learn365:learn365 panic:misbehave/panic probe:misbehave/probe; do
    "$GATEWAY" plugin test "$SCIMGW_PLUGINS_DIR/${p%%:*}.wasm" --fixtures "plugins/${p#*:}/fixtures" | tee -a "$SCIMGW_CACHE/fixtures.log"
done
fixtures_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$SCIMGW_CACHE/fixtures.log" | awk '{s+=$1} END {print s+0}')

say "the vendor kit from scratch: gateway plugin new, a standalone build, gateway plugin test"
kit="$(mktemp -d)"
"$GATEWAY" plugin new kit-check --dir "$kit" >/dev/null
# What a vendor runs is `cargo build --release --target wasm32-unknown-unknown`; here rustup cannot add
# that target, so Debian's Rust builds it with -Zbuild-std, as scripts/build-plugins.sh does.
(cd "$kit/kit-check" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET -u RUSTUP_TOOLCHAIN \
    RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$SCIMGW_CACHE/kit-target" \
    /usr/bin/cargo build --release --quiet -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown)
"$GATEWAY" plugin test "$SCIMGW_CACHE/kit-target/wasm32-unknown-unknown/release/kit_check.wasm" \
    --fixtures "$kit/kit-check/fixtures" | tee -a "$SCIMGW_CACHE/fixtures.log"
rm -rf "$kit"
fixtures_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$SCIMGW_CACHE/fixtures.log" | awk '{s+=$1} END {print s+0}')

say "the JavaScript kit: the webhook plugin in JavaScript passes the Rust webhook's fixtures (componentize-js, no WASI)"
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
bash plugins/js/build.sh
for p in js-webhook:plugins/webhook/fixtures js-webhook:plugins/js/webhook/fixtures js-template:plugins/js/template/fixtures; do
    "$GATEWAY" plugin test "$SCIMGW_PLUGINS_DIR/${p%%:*}.wasm" --fixtures "${p#*:}" | tee -a "$SCIMGW_CACHE/fixtures.log"
done
fixtures_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$SCIMGW_CACHE/fixtures.log" | awk '{s+=$1} END {print s+0}')

work="$(mktemp -d)"
export GATEWAY_CREDENTIAL_KEY_FILE="$work/credential.key"
port="${CONFORMANCE_PORT:-18480}"
db="sqlite://$work/conformance.db"
cleanup() {
    [[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
strict_token="$("$GATEWAY" tenant create conformance --database-url "$db" | token_of)"
lenient_token="$("$GATEWAY" tenant create sanity --unknown-members ignore --database-url "$db" | token_of)"

say "starting the gateway on 127.0.0.1:$port"
"$GATEWAY" serve --bind "127.0.0.1:$port" --database-url "$db" >"$work/gateway.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/gateway.log" >&2; die "gateway did not start"; }

# scim2-tester runs against a tenant with the default policy; scim-sanity adds a member id that does
# not exist and expects 200, which only a tenant created with --unknown-members ignore gives it.
say "conformance suites"
BASE_URL="http://127.0.0.1:$port/scim/v2/conformance" TOKEN="$strict_token" \
SANITY_BASE_URL="http://127.0.0.1:$port/scim/v2/sanity" SANITY_TOKEN="$lenient_token" \
OUT_DIR="$SCIMGW_CACHE/conformance" \
    bash scripts/conformance.sh

if grep -q '"level":"ERROR"' "$work/gateway.log"; then
    grep '"level":"ERROR"' "$work/gateway.log" | head -5 >&2
    die "the gateway logged errors during the conformance run"
fi

passed=$(grep -E '^test result:' "$SCIMGW_CACHE/cargo-test.log" | awk '{s+=$4} END {print s+0}')
passed=$((passed + ${fixtures_passed:-0}))
failed=$(grep -E '^test result:' "$SCIMGW_CACHE/cargo-test.log" | awk '{s+=$6} END {print s+0}')
say "all tests passed"
echo "${passed} passed, ${failed} failed"
