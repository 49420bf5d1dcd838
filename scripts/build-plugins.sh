#!/usr/bin/env bash
# Builds the WebAssembly plugins in plugins/ and writes them as components to
# ${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}/<name>.wasm:
#   webhook, template                                              (the plugins we ship)
#   ispring                                                        (the iSpring Learn target)
#   loop, alloc, panic, forbidden-host, wrong-world, bad-import    (misbehaving plugins for the host's tests)
#   probe                                                          (kv, directory and remote ids for the tests)
#
# Guests are built with Debian's Rust (rustc-web, rust-web-src, lld-22; installed when missing) for
# wasm32-unknown-unknown with -Zbuild-std, because rustup cannot add targets on this machine. The
# componentize tool (plugins/tools/componentize) is built with rustup's Rust for the host. Both keep
# their build output in $SCIMGW_CACHE (plugins-target, tools-target), so a second run only rebuilds
# what changed, and a component is rewritten only when its core module is newer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
started=$SECONDS

OUT_DIR="${SCIMGW_PLUGINS_DIR:-$SCIMGW_CACHE/plugins}"
GUEST_TARGET_DIR="$SCIMGW_CACHE/plugins-target"
TOOLS_TARGET_DIR="$SCIMGW_CACHE/tools-target"
WASM_TARGET=wasm32-unknown-unknown

# <component name>:<crate name with underscores, i.e. the core module's file name>
PLUGINS=(
    webhook:scimgw_plugin_webhook
    ispring:scimgw_plugin_ispring
    learn365:scimgw_plugin_learn365
    template:scimgw_plugin_template
    loop:misbehave_loop
    alloc:misbehave_alloc
    panic:misbehave_panic
    forbidden-host:misbehave_forbidden_host
    wrong-world:misbehave_wrong_world
    bad-import:misbehave_bad_import
    probe:misbehave_probe
)

# Debian's Rust is usable: rustc new enough for edition 2024, the std sources for -Zbuild-std, and a
# rust-lld that runs (it is a link to lld-22).
debian_rust_ready() {
    [[ -x /usr/bin/rustc && -x /usr/bin/cargo ]] || return 1
    [[ -f /usr/lib/rustlib/src/rust/library/Cargo.lock ]] || return 1
    rust-lld -flavor wasm --version >/dev/null 2>&1 || return 1
    local version major minor
    version="$(/usr/bin/rustc --version 2>/dev/null | awk '{print $2}')"
    IFS=. read -r major minor _ <<<"$version"
    [[ "${major:-0}" -gt 1 || ( "${major:-0}" -eq 1 && "${minor:-0}" -ge 85 ) ]]
}

# Another apt or dpkg run (an unattended install, a parallel script) holds the dpkg lock.
apt_busy() {
    local comm
    for comm in /proc/[0-9]*/comm; do
        case "$(cat "$comm" 2>/dev/null)" in
            apt | apt-get | aptitude | dpkg | unattended-upgr) return 0 ;;
        esac
    done
    return 1
}

if ! debian_rust_ready; then
    if apt_busy; then
        say "waiting for another apt/dpkg run to finish"
        for _ in $(seq 1 180); do
            apt_busy || break
            sleep 5
        done
    fi
    if ! debian_rust_ready; then
        say "installing Debian's Rust for the guests (rustc-web, rust-web-src, lld-22)"
        apt_install -o DPkg::Lock::Timeout=900 rustc-web rust-web-src lld-22
        debian_rust_ready || die "Debian's rustc/cargo 1.85+, its std sources or rust-lld (lld-22) are still missing"
    fi
fi

say "building the componentize tool (rustup's $(cargo --version | awk '{print $2}'), host target)"
CARGO_TARGET_DIR="$TOOLS_TARGET_DIR" cargo build --release --locked \
    --manifest-path plugins/tools/componentize/Cargo.toml
TOOL="$TOOLS_TARGET_DIR/release/componentize"

say "building the plugins (Debian's $(/usr/bin/rustc --version | awk '{print $2}'), $WASM_TARGET, -Zbuild-std)"
# Debian's toolchain, explicitly: rustup's stays first on PATH. Nothing of the host build's environment
# (flags, target, toolchain override) may leak into the guest build.
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER \
    RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR="$GUEST_TARGET_DIR" \
    /usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort --target "$WASM_TARGET" \
    --manifest-path plugins/Cargo.toml --workspace

mkdir -p "$OUT_DIR"
pairs=()
for entry in "${PLUGINS[@]}"; do
    name="${entry%%:*}"
    core="$GUEST_TARGET_DIR/$WASM_TARGET/release/${entry#*:}.wasm"
    out="$OUT_DIR/$name.wasm"
    [[ -f "$core" ]] || die "the build did not produce $core"
    if [[ ! -f "$out" || "$core" -nt "$out" || "$TOOL" -nt "$out" ]]; then
        pairs+=("$core" "$out")
    fi
done
if ((${#pairs[@]})); then
    say "componentizing $((${#pairs[@]} / 2)) plugin(s)"
    "$TOOL" "${pairs[@]}"
else
    say "components are up to date"
fi

say "plugins in $OUT_DIR ($((SECONDS - started)) s):"
for entry in "${PLUGINS[@]}"; do
    name="${entry%%:*}"
    out="$OUT_DIR/$name.wasm"
    printf '  %-15s %7s bytes  %s\n' "$name" "$(stat -c %s "$out")" "$out"
done
