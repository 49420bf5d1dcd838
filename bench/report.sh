#!/usr/bin/env bash
# The reporting join at scale (Learn Organizational Reporting datasets x SCIM users), gateway vs DuckDB:
#
#   bench/report.sh [--users 100000] [--progress 5000000] [--achievements 500000] [--seed 1]
#                   [--format csv|parquet] [--threads N] [--keep]
#
# 1. a Python venv with DuckDB in $SCIMGW_CACHE/venv-duckdb (created once; python3-venv from apt if missing);
# 2. `gateway report sample` writes the datasets (Users.csv, Progress.csv, …, Hierarchy*.csv) into a temp dir;
# 3. a tenant, and `gateway report sample-scim` puts one SCIM user per Users row into the store (externalId =
#    the AADObjectId) and writes them to DIR/scim_users.csv;
# 4. with --format parquet, DuckDB converts the CSVs to parquet and both sides read those;
# 5. times `gateway report load` and `gateway report export --format csv` (wall time, peak RSS), then the
#    same per-learner join in DuckDB (bench/report_duckdb.py), and compares the two results row by row.
# Prints one JSON line on stdout; progress goes to stderr.
# Environment: CARGO_TARGET_DIR, SKIP_BUILD=1, KEEP_TMP=1 (= --keep), FORMAT (csv), DATABASE_URL (default: a
#   fresh SQLite file in the temp dir), DUCKDB_VERSION (pin the pip install), TMPDIR (needs ~1.5 GB for the
#   default sizes, twice that with parquet).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

USERS=100000 PROGRESS=5000000 ACHIEVEMENTS=500000 SEED=1 THREADS=""
FORMAT="${FORMAT:-csv}" KEEP="${KEEP_TMP:-0}"
while (($#)); do
    case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --progress) PROGRESS="$2"; shift 2 ;;
    --achievements) ACHIEVEMENTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --format) FORMAT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
[[ "$FORMAT" == csv || "$FORMAT" == parquet ]] || die "--format must be csv or parquet"

# --- tools ------------------------------------------------------------------------------------------------
VENV="$SCIMGW_CACHE/venv-duckdb"
PY="$VENV/bin/python"
if ! "$PY" -c 'import duckdb' >/dev/null 2>&1; then
    command -v python3 >/dev/null 2>&1 || apt_install python3
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        say "installing python3-venv from Debian's packages"
        apt_install python3-venv
    fi
    say "creating $VENV with duckdb"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "duckdb${DUCKDB_VERSION:+==$DUCKDB_VERSION}" >&2
    "$PY" -c 'import duckdb' || die "duckdb did not install into $VENV"
fi

# Peak RSS: GNU time -v if there is one (Debian package `time`), else VmHWM polled from /proc.
TIME_BIN=/usr/bin/time
if ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    apt_install time >/dev/null 2>&1 || true
    "$TIME_BIN" -v true >/dev/null 2>&1 || TIME_BIN=""
fi

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    ensure_rust
    (cd "$ROOT" && cargo build --release -p gateway >&2)
fi
G="${GATEWAY_BIN:-$CARGO_TARGET_DIR/release/gateway}"
# The gateway reads every GATEWAY_* variable as configuration and refuses unknown ones.
unset GATEWAY_BIN
[[ -x "$G" ]] || die "gateway binary not found: $G"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/scimgw-report-bench.XXXXXX")"
cleanup() {
    if [[ "$KEEP" == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
export DATABASE_URL="${DATABASE_URL:-sqlite://$TMP/gateway.db}" GATEWAY_CREDENTIAL_KEY_FILE="$TMP/key"
export RUST_LOG="${RUST_LOG:-warn}"
DATA="$TMP/data"
TENANT="report-bench-$$"

# measure NAME CMD…: runs CMD (stdout to $TMP/NAME.out, stderr to $TMP/NAME.err); sets SECONDS_ (wall) and
# RSS_MB (peak resident set of the process).
measure() {
    local name="$1" start end
    shift
    start="$(date +%s.%N)"
    if [[ -n "$TIME_BIN" ]]; then
        if ! "$TIME_BIN" -v -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
            cat "$TMP/$name.err" >&2
            die "$name failed: $*"
        fi
        end="$(date +%s.%N)"
        RSS_MB="$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$TMP/$name.time")"
    else
        "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
        local pid=$! hwm=0 v
        while [[ -r "/proc/$pid/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
            v="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
            [[ -n "$v" ]] && hwm="$v"
            sleep 0.05
        done
        if ! wait "$pid"; then
            cat "$TMP/$name.err" >&2
            die "$name failed: $*"
        fi
        end="$(date +%s.%N)"
        RSS_MB="$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')"
    fi
    SECONDS_="$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')"
}

# --- data -------------------------------------------------------------------------------------------------
say "generating $USERS users, $PROGRESS progress and $ACHIEVEMENTS achievement rows (seed $SEED)"
measure sample "$G" report sample --out "$DATA" --users "$USERS" --progress "$PROGRESS" \
    --achievements "$ACHIEVEMENTS" --seed "$SEED"
SAMPLE_S="$SECONDS_"

"$G" tenant create "$TENANT" >/dev/null
say "pushing the SCIM users into tenant $TENANT"
measure scim "$G" report sample-scim --tenant "$TENANT" --from "$DATA"
SCIM_S="$SECONDS_"
SCIM_CSV="$DATA/scim_users.csv"
[[ -s "$SCIM_CSV" ]] || die "gateway report sample-scim did not write $SCIM_CSV"

LOAD_DIR="$DATA"
PARQUET_S=null
if [[ "$FORMAT" == parquet ]]; then
    say "converting the datasets to parquet"
    measure parquet "$PY" "$ROOT/bench/report_duckdb.py" --to-parquet "$DATA" "$TMP/parquet"
    PARQUET_S="$SECONDS_"
    LOAD_DIR="$TMP/parquet"
fi
DATASET_MB="$(du -sm "$LOAD_DIR" | cut -f1)"

# --- the runs ---------------------------------------------------------------------------------------------
say "gateway report load ($FORMAT, ${DATASET_MB} MB)"
measure load "$G" report load --tenant "$TENANT" "$LOAD_DIR"
LOAD_S="$SECONDS_" LOAD_RSS="$RSS_MB"

say "gateway report export (csv)"
measure export "$G" report export --tenant "$TENANT" --format csv --table learners
mv "$TMP/export.out" "$TMP/gateway_report.csv"
EXPORT_S="$SECONDS_" EXPORT_RSS="$RSS_MB"

say "DuckDB join"
measure duckdb "$PY" "$ROOT/bench/report_duckdb.py" "$LOAD_DIR" "$SCIM_CSV" --out "$TMP/duckdb_report.csv" \
    ${THREADS:+--threads "$THREADS"}
DUCK_S="$SECONDS_" DUCK_RSS="$RSS_MB"

"$PY" "$ROOT/bench/report_duckdb.py" --compare "$TMP/gateway_report.csv" "$TMP/duckdb_report.csv" \
    >"$TMP/compare.out" 2>"$TMP/compare.err" || echo '{"compared": false, "reason": "compare failed"}' >"$TMP/compare.out"

# --- result -----------------------------------------------------------------------------------------------
export USERS PROGRESS ACHIEVEMENTS SEED FORMAT DATASET_MB SAMPLE_S SCIM_S PARQUET_S LOAD_S LOAD_RSS EXPORT_S \
    EXPORT_RSS DUCK_S DUCK_RSS TMP CPUS="$(nproc)"
"$PY" - <<'PY'
import json, os

e = os.environ
tmp = e["TMP"]


def last_json(name):
    """The last JSON line a step printed (None if it printed none)."""
    try:
        with open(os.path.join(tmp, name + ".out")) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            pass
    try:
        return json.loads("\n".join(lines))
    except ValueError:
        return None


def num(k):
    v = e.get(k, "null")
    return None if v in ("", "null") else float(v)


duck = last_json("duckdb") or {}
print(json.dumps({
    "bench": "report",
    "users": int(e["USERS"]), "progress": int(e["PROGRESS"]), "achievements": int(e["ACHIEVEMENTS"]),
    "seed": int(e["SEED"]), "format": e["FORMAT"], "dataset_mb": int(e["DATASET_MB"]), "cpus": int(e["CPUS"]),
    "setup_s": {"sample": num("SAMPLE_S"), "sample_scim": num("SCIM_S"), "to_parquet": num("PARQUET_S")},
    "gateway": {
        "load_s": num("LOAD_S"), "load_rss_mb": num("LOAD_RSS"),
        "export_s": num("EXPORT_S"), "export_rss_mb": num("EXPORT_RSS"),
        "total_s": round(num("LOAD_S") + num("EXPORT_S"), 3),
        "load_output": last_json("load"),
    },
    "duckdb": {
        "version": duck.get("version"), "threads": duck.get("threads"),
        "query_s": duck.get("seconds"), "query_rss_mb": duck.get("rss_mb"),
        "process_s": num("DUCK_S"), "process_rss_mb": num("DUCK_RSS"),
        "rows": duck.get("rows"), "matched": duck.get("matched"),
    },
    "compare": last_json("compare"),
}))
PY
