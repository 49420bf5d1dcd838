#!/usr/bin/env bash
# Builds and runs the gateway on SQLite (./gateway.db). On the first run it creates a tenant "demo" and
# prints its SCIM path and secret token (shown once). Extra arguments go to `gateway serve`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
say "building the gateway (release)"
cargo build --release -p gateway
GATEWAY="$CARGO_TARGET_DIR/release/gateway"
export DATABASE_URL="${DATABASE_URL:-sqlite://gateway.db}"
if [[ "$("$GATEWAY" tenant list | wc -l)" -eq 0 ]]; then
    say "first run: creating tenant \"demo\" (keep the token, it is shown only this once)"
    "$GATEWAY" tenant create demo
fi
bind="${GATEWAY_BIND:-127.0.0.1:8080}"
say "serving on http://$bind (SCIM root: http://$bind/scim/v2/<tenant>; Ctrl-C stops)"
exec "$GATEWAY" serve --bind "$bind" --log-format "${GATEWAY_LOG_FORMAT:-pretty}" "$@"
