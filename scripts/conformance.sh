#!/usr/bin/env bash
# Run two third-party SCIM 2.0 conformance suites against a running server:
#
#   * scim2-tester (driven by `scim2 ... test` from scim2-cli), python-scim project
#   * scim-sanity  (`scim-sanity probe ...`), strict mode
#
# Usage:
#   scripts/conformance.sh [BASE_URL [TOKEN]]
#   BASE_URL=http://127.0.0.1:8080/scim/v2/acme TOKEN=secret scripts/conformance.sh
#
# Environment:
#   BASE_URL          SCIM root (the URL /ServiceProviderConfig, /Users ... hang off)
#   TOKEN             bearer token (sent as "Authorization: Bearer $TOKEN")
#   SANITY_BASE_URL, SANITY_TOKEN  run scim-sanity against another tenant (default: BASE_URL, TOKEN)
#   SCIMGW_CACHE      cache dir, default $HOME/.cache/scimgw; tools live in $SCIMGW_CACHE/venv
#   OUT_DIR           where full outputs go, default target/conformance
#   MIN_SCIM2_PASSED  minimum number of SUCCESS results from scim2-tester, default 135
#   PYTHON            interpreter used to create the venv, default python3
#   TLS_NO_VERIFY=1   do not verify TLS certificates (both tools)
#   SANITY_FAIL_ON_WARN=1  also fail when scim-sanity reports WARN results
#
# Both suites create, modify and delete Users and Groups on the target tenant
# (scim-sanity prefixes its resources with "scim-sanity-test-", scim2-tester
# uses random UUID values). Run it against a throw-away tenant.
#
# Exit status: 0 when both suites report no failure and scim2-tester reached
# MIN_SCIM2_PASSED successes; 1 otherwise; 2 on usage/installation problems.

set -euo pipefail

BASE_URL="${1:-${BASE_URL:-}}"
TOKEN="${2:-${TOKEN:-}}"
if [[ -z "$BASE_URL" || -z "$TOKEN" ]]; then
    echo "usage: $0 BASE_URL TOKEN   (or set BASE_URL and TOKEN in the environment)" >&2
    exit 2
fi
BASE_URL="${BASE_URL%/}"
# scim-sanity may run against another tenant (its member test adds a member id that does not exist,
# which a tenant with the default unknown-member policy rightly rejects).
SANITY_BASE_URL="${SANITY_BASE_URL:-$BASE_URL}"
SANITY_TOKEN="${SANITY_TOKEN:-$TOKEN}"

CACHE_DIR="${SCIMGW_CACHE:-$HOME/.cache/scimgw}"
VENV="$CACHE_DIR/venv"
OUT_DIR="${OUT_DIR:-target/conformance}"
MIN_SCIM2_PASSED="${MIN_SCIM2_PASSED:-135}"
PYTHON="${PYTHON:-python3}"

# Pinned tool versions. scim2-cli 0.6.0 pulls scim2-client/scim2-models; the
# tester is pinned explicitly because its check list defines the pass count.
PINS=(scim2-cli==0.6.0 scim2-tester==0.5.2 scim-sanity==0.7.4)

# --------------------------------------------------------------------------
# Install the tools into the venv when missing or at another version.
# --------------------------------------------------------------------------
tools_ok() {
    [[ -x "$VENV/bin/python" && -x "$VENV/bin/scim2" && -x "$VENV/bin/scim-sanity" ]] || return 1
    "$VENV/bin/python" - "${PINS[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if ! tools_ok; then
    echo "==> installing ${PINS[*]} into $VENV" >&2
    mkdir -p "$CACHE_DIR"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV" || { echo "cannot create venv with $PYTHON" >&2; exit 2; }
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "${PINS[@]}" \
        || { echo "pip install failed" >&2; exit 2; }
    tools_ok || { echo "installed tools do not match ${PINS[*]}" >&2; exit 2; }
fi

mkdir -p "$OUT_DIR"
SCIM2_OUT="$OUT_DIR/scim2-tester.txt"
SANITY_JSON="$OUT_DIR/scim-sanity.json"
SANITY_ERR="$OUT_DIR/scim-sanity.stderr.txt"

# --------------------------------------------------------------------------
# Suite 1: scim2-tester through `scim2 --url URL test --verbose`.
#
# The token is passed through SCIM_CLI_HEADERS (scim2-cli splits that variable
# on ';') so it does not show up in the process list. The exit status of
# `scim2 test` is ignored: it is 1 as soon as any result is not SUCCESS,
# SKIPPED included, and also when discovery itself fails; the parser below
# decides instead.
# --------------------------------------------------------------------------
scim2_args=(--url "$BASE_URL")
[[ "${TLS_NO_VERIFY:-}" == 1 ]] && scim2_args+=(--no-verify)
echo "==> scim2-tester against $BASE_URL (full output: $SCIM2_OUT)" >&2
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $TOKEN" \
    "$VENV/bin/scim2" "${scim2_args[@]}" test --verbose >"$SCIM2_OUT" 2>&1
scim2_rc=$?
set -e

# --------------------------------------------------------------------------
# Suite 2: scim-sanity probe, strict mode, JSON report.
#
# Runs the same click command as `scim-sanity probe URL --token T --strict
# --json-output --i-accept-side-effects`, but builds argv inside Python so the
# token is read from the environment instead of the command line.
# --------------------------------------------------------------------------
sanity_args=(--strict --json-output --i-accept-side-effects)
[[ "${TLS_NO_VERIFY:-}" == 1 ]] && sanity_args+=(--tls-no-verify)
echo "==> scim-sanity probe (strict) against $SANITY_BASE_URL (full output: $SANITY_JSON)" >&2
set +e
SCIM_BASE_URL="$SANITY_BASE_URL" SCIM_TOKEN="$SANITY_TOKEN" \
    "$VENV/bin/python" - "${sanity_args[@]}" >"$SANITY_JSON" 2>"$SANITY_ERR" <<'PY'
import os, sys
from scim_sanity.cli import main
sys.argv = ["scim-sanity", "probe", os.environ["SCIM_BASE_URL"],
            "--token", os.environ["SCIM_TOKEN"], *sys.argv[1:]]
main()
PY
sanity_rc=$?
set -e

# --------------------------------------------------------------------------
# Summaries and verdict.
#
# scim2-tester: `scim2 test` prints one line per check result,
#     "<STATUS> <check_function_name>"   e.g. "SUCCESS check_add_attribute"
# at column 0, followed by the reason (indented by two spaces, possibly over
# several lines) and, with --verbose, the debug data. STATUS is a member of
# scim2_tester.Status: SUCCESS, COMPLIANT, ACCEPTABLE, DEVIATION, ERROR,
# CRITICAL, SKIPPED. We count only lines matching
#     ^STATUS [A-Za-z_][A-Za-z0-9_]*$
# (the title is always a Python identifier), after stripping ANSI colours.
#   passed  = SUCCESS + COMPLIANT + ACCEPTABLE
#   failed  = ERROR + CRITICAL
#   warned  = DEVIATION          (reported, not fatal)
#   skipped = SKIPPED            (reported, not fatal; e.g. root /.search
#                                 answered 501 -> search_with_attributes skipped)
# A run where discovery fails prints "Error: Could not discover ..." and no
# result line, so passed=0 < MIN_SCIM2_PASSED fails the run.
#
# scim-sanity: the JSON report has summary.{passed,failed,errors,warnings,
# skipped,total} and results[] with name/status/message/phase, status being
# one of pass/fail/warn/skip/error. The probe itself exits 1 on any fail or
# error. We fail on failed+errors > 0, on a missing/invalid report, on any
# skip that is not one of the draft Agent/AgenticApplication phases (a
# skipped User/Group phase means the server is not advertising them in
# /ResourceTypes or a lifecycle could not continue), and on warnings when
# SANITY_FAIL_ON_WARN=1.
# --------------------------------------------------------------------------
set +e
"$VENV/bin/python" - "$SCIM2_OUT" "$SANITY_JSON" "$MIN_SCIM2_PASSED" \
    "$scim2_rc" "$sanity_rc" "${SANITY_FAIL_ON_WARN:-0}" <<'PY'
import json, re, sys

scim2_out, sanity_json, min_passed, scim2_rc, sanity_rc, fail_on_warn = sys.argv[1:]
min_passed = int(min_passed)
ok = True

# ---- scim2-tester -------------------------------------------------------
ansi = re.compile(r"\x1b\[[0-9;]*m")
line_re = re.compile(
    r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) ([A-Za-z_][A-Za-z0-9_]*)$")
counts = {}
failures = []
with open(scim2_out, encoding="utf-8", errors="replace") as fh:
    lines = [ansi.sub("", l.rstrip("\n")) for l in fh]
for i, line in enumerate(lines):
    m = line_re.match(line)
    if not m:
        continue
    status, title = m.groups()
    counts[status] = counts.get(status, 0) + 1
    if status in ("ERROR", "CRITICAL"):
        reason = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("  ") else ""
        failures.append(f"{status} {title}: {reason[:300]}")
passed = counts.get("SUCCESS", 0) + counts.get("COMPLIANT", 0) + counts.get("ACCEPTABLE", 0)
failed = counts.get("ERROR", 0) + counts.get("CRITICAL", 0)
warned = counts.get("DEVIATION", 0)
skipped = counts.get("SKIPPED", 0)
print(f"scim2-tester: {passed} passed, {failed} failed, {skipped} skipped, {warned} deviations "
      f"(min passed {min_passed}, scim2 exit {scim2_rc})")
if failed or passed < min_passed:
    ok = False
    if passed < min_passed:
        print(f"  FAIL: only {passed} checks passed, expected at least {min_passed}")
        if not counts:
            tail = [l for l in lines if l.strip()][-5:]
            print("  no check result found; last output lines:")
            for l in tail:
                print("    " + l[:300])
    for f in failures[:40]:
        print("  " + f)
    if len(failures) > 40:
        print(f"  ... {len(failures) - 40} more, see {scim2_out}")

# ---- scim-sanity --------------------------------------------------------
try:
    with open(sanity_json, encoding="utf-8") as fh:
        report = json.load(fh)
    summary = report["summary"]
    results = report["results"]
except Exception as exc:  # noqa: BLE001
    print(f"scim-sanity: no valid JSON report in {sanity_json} ({exc}); probe exit {sanity_rc}")
    ok = False
else:
    bad_skips = [r for r in results if r["status"] == "skip"
                 and "agent" not in (r["name"] + r.get("phase", "")).lower()]
    print(f"scim-sanity: {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['errors']} errors, {summary['skipped']} skipped "
          f"({len(bad_skips)} non-Agent), {summary['warnings']} warnings "
          f"(mode {report.get('mode')}, probe exit {sanity_rc})")
    for r in results:
        fatal = (r["status"] in ("fail", "error") or r in bad_skips
                 or (r["status"] == "warn" and fail_on_warn == "1"))
        if fatal:
            ok = False
        if fatal or r["status"] == "warn":
            print(f"  {r['status'].upper()} [{r.get('phase', '')}] {r['name']}: {r.get('message', '')[:300]}")
    if summary["failed"] or summary["errors"]:
        ok = False

print("conformance: OK" if ok else "conformance: FAILED")
sys.exit(0 if ok else 1)
PY
verdict=$?
set -e
exit "$verdict"
