# Shared helpers for the scripts (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SCIMGW_CACHE="${SCIMGW_CACHE:-$HOME/.cache/scimgw}"
# Build output lives outside the clone so CI and new clones reuse the compiled dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SCIMGW_CACHE/target}"
mkdir -p "$SCIMGW_CACHE"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt-get install, as root or through sudo, once per script run.
apt_install() {
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    if [[ -z "${_APT_UPDATED:-}" ]]; then
        $sudo apt-get update -qq >/dev/null 2>&1 || true
        _APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust 1.95 (rustup) first"
}

# Starts (or installs and starts) PostgreSQL on 127.0.0.1:5432 and exports TEST_POSTGRES_URL for a
# database `scimgw_test`.
ensure_postgres() {
    local host=127.0.0.1 port=5432
    if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
        if ! command -v pg_ctlcluster >/dev/null 2>&1; then
            say "installing PostgreSQL from Debian's packages"
            apt_install postgresql postgresql-contrib
        fi
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
        [[ -n "$version" ]] || die "no PostgreSQL cluster found under /etc/postgresql"
        if ! pg_lsclusters 2>/dev/null | awk '{print $2}' | grep -qx main; then
            pg_createcluster "$version" main >/dev/null
        fi
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 30); do
            pg_isready -q -h "$host" -p "$port" && break
            sleep 1
        done
        pg_isready -q -h "$host" -p "$port" || die "PostgreSQL did not come up on $host:$port"
    fi
    local psql=(psql -h "$host" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt)
    if ! "${psql[@]}" -c 'select 1' >/dev/null 2>&1; then
        # Fresh Debian clusters authenticate local TCP users by password: allow trust on loopback for tests.
        local hba
        hba="$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | head -n1)"
        [[ -n "$hba" ]] || die "cannot reach PostgreSQL as user postgres"
        sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' "$hba"
        su postgres -c "psql -qc 'select pg_reload_conf()'" >/dev/null
        sleep 1
    fi
        # A fresh database each run: the tests create tenants with random names, and an old schema from an
    # earlier checkout must not leak into this one.
    "${psql[@]}" -c 'drop database if exists scimgw_test with (force)' >/dev/null
    "${psql[@]}" -c 'create database scimgw_test' >/dev/null
    export TEST_POSTGRES_URL="postgres://postgres@$host:$port/scimgw_test"
}
