#!/usr/bin/env bash
# Builds the JavaScript plugins (componentize-js, WASI disabled) into $OUT_DIR/js-<name>.wasm:
#   js-template.wasm   plugins/js/template  (the plugin vendors copy)
#   js-webhook.wasm    plugins/js/webhook   (the webhook plugin, ported from plugins/webhook)
#
# OUT_DIR defaults to ${SCIMGW_PLUGINS_DIR:-$HOME/.cache/scimgw/plugins}, where the Rust plugins land.
# Installs each plugin's pinned tools (npm ci, from package-lock.json) when node_modules is missing;
# checks that the kit copies (src/lib, tools) match the template's, the vendored WIT matches the SDK's
# and the committed TypeScript declarations match the WIT; refuses a component that imports anything
# but the contract's interfaces (scimgw:plugin/*@1.0.0); prints the sizes; exits non-zero on any failure.
#
# Usage: plugins/js/build.sh [template|webhook ...]   (default: both)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_DIR="${OUT_DIR:-${SCIMGW_PLUGINS_DIR:-$HOME/.cache/scimgw/plugins}}"
plugins=("$@")
[ ${#plugins[@]} -gt 0 ] || plugins=(template webhook)

# Every plugin carries its own copy of the kit's src/lib (componentize-js loads modules only from inside
# the plugin's own src/, so a link would not do); the webhook's tools, types and wit are links to the
# template's. They must not drift apart.
for name in "${plugins[@]}"; do
    [ "$name" = template ] && continue
    for shared in src/lib tools; do
        if ! diff -r "$here/template/$shared" "$here/$name/$shared" >/dev/null; then
            echo "error: plugins/js/$name/$shared differs from plugins/js/template/$shared (copy the template's)" >&2
            exit 1
        fi
    done
done

# The vendored contract must be the SDK's.
contract="$here/../sdk/wit/plugin-1.0.0/plugin.wit"
for name in "${plugins[@]}"; do
    if ! cmp -s "$contract" "$here/$name/wit/plugin.wit"; then
        echo "error: plugins/js/$name/wit/plugin.wit differs from plugins/sdk/wit/plugin-1.0.0/plugin.wit" >&2
        exit 1
    fi
done

mkdir -p "$OUT_DIR"
for name in "${plugins[@]}"; do
    dir="$here/$name"
    [ -f "$dir/package.json" ] || { echo "error: no JS plugin at $dir" >&2; exit 1; }
    if [ ! -d "$dir/node_modules" ]; then
        echo "== $name: npm ci"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi

    # The committed TypeScript declarations must be those of the WIT (npm run types regenerates them).
    fresh="$(mktemp -d)"
    (cd "$dir" && npx --no-install jco guest-types wit --world-name plugin --out-dir "$fresh" --quiet \
        && node tools/fix-types.mjs "$fresh")
    if ! diff -r "$fresh" "$dir/types" >/dev/null; then
        rm -rf "$fresh"
        echo "error: plugins/js/$name/types is stale: run \`npm run types\` there" >&2
        exit 1
    fi
    rm -rf "$fresh"

    echo "== $name: componentize"
    rm -f "$dir/plugin.wasm"
    (cd "$dir" && npm run --silent build)
    [ -s "$dir/plugin.wasm" ] || { echo "error: $name: componentize-js wrote no plugin.wasm" >&2; exit 1; }

    # The only imports allowed are the contract's interfaces: no WASI.
    wit="$(cd "$dir" && npx --no-install jco wit plugin.wasm)"
    foreign="$(grep -E '^\s*import ' <<<"$wit" | grep -vE '^\s*import scimgw:plugin/[a-z-]+@1\.0\.0;$' || true)"
    if [ -n "$foreign" ]; then
        echo "error: $name imports more than the contract:" >&2
        echo "$foreign" >&2
        exit 1
    fi
    mv "$dir/plugin.wasm" "$OUT_DIR/js-$name.wasm"
done

echo "== components in $OUT_DIR"
for name in "${plugins[@]}"; do
    file="$OUT_DIR/js-$name.wasm"
    bytes="$(stat -c %s "$file")"
    printf '  %-16s %10d bytes (%s)\n' "js-$name.wasm" "$bytes" "$(numfmt --to=iec --suffix=B "$bytes")"
done
