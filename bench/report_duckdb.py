#!/usr/bin/env python3
"""The gateway's reporting join (docs/spec/reporting.md §5, R2-R6) done with DuckDB, as a yardstick for
`gateway report load` + `gateway report export` (bench/report.sh).

  report_duckdb.py DIR SCIM_USERS.csv [--out FILE] [--threads N] [--memory-limit 4GB]
      Reads the Learn Organizational Reporting files in DIR (Users, Progress, Achievements, Certifications,
      AppliedSkills, HierarchyUnit; `.csv`, or `.parquet` when DIR holds parquet files; names with or
      without a `_<tenant id>` suffix) and a CSV of the SCIM users (id, externalId, displayName, userName,
      active; mail and department if present), joins them per Learn user and writes the result as CSV
      (the columns of the gateway's learners export). Prints one JSON line: wall time of the work and peak
      RSS of this process.
  report_duckdb.py --to-parquet SRC_DIR DEST_DIR
      Converts the dataset CSVs of SRC_DIR to parquet files of the same names in DEST_DIR (typed columns:
      XP bigint, *On/examScoredDate timestamptz, certification dates and catalog numbers integer).
  report_duckdb.py --compare A.csv B.csv
      Compares two learner CSVs (gateway vs DuckDB) on userId and the metrics; prints one JSON line.

Needs the `duckdb` package (bench/report.sh installs it into $SCIMGW_CACHE/venv-duckdb).
"""

import argparse
import json
import os
import re
import resource
import sys
import time

import duckdb

DATASETS = ["Users", "Progress", "Achievements", "Certifications", "AppliedSkills", "HierarchyModule",
            "HierarchyUnit", "HierarchyLearningPath", "HierarchyLearningPathModule", "HierarchyCertification",
            "HierarchyAppliedSkills"]
# The join needs these; the others only give titles.
REQUIRED = ["Users", "Progress", "Achievements", "HierarchyUnit"]
OPTIONAL = ["Certifications", "AppliedSkills"]
# Column types in the parquet files (others stay text).
TYPED = {
    "Users": {"CreatedOn": "TIMESTAMPTZ"},
    "Progress": {"XP": "BIGINT", "AwardedOn": "TIMESTAMPTZ"},
    "Achievements": {"AwardedOn": "TIMESTAMPTZ"},
    "Certifications": {c: "INTEGER" for c in ["AwardedOn", "CertificationStartDate", "CertificationEndDate",
                                              "StayCurrentEligibilityStartDate"]},
    "AppliedSkills": {"examScoredDate": "TIMESTAMPTZ"},
    "HierarchyModule": {"durationInMinutes": "INTEGER", "points": "INTEGER"},
    "HierarchyUnit": {"durationInMinutes": "INTEGER", "points": "INTEGER"},
    "HierarchyLearningPath": {"durationInMinutes": "INTEGER", "points": "INTEGER"},
    "HierarchyCertification": {"type": "INTEGER"},
}
METRICS = ["totalXP", "modulesCompleted", "pathsCompleted", "modulesStarted", "certifications", "appliedSkills"]
COLUMNS = ["userId", "AADObjectId", "matched", "name", "displayName", "userPrincipalName", "mail", "department",
           "accountEnabled"] + METRICS


def die(msg):
    print(f"report_duckdb.py: {msg}", file=sys.stderr)
    sys.exit(2)


def rss_mb():
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def find_files(folder):
    """Dataset name -> path, matched like the gateway does: case-insensitive, optional `dbo.` prefix and
    `_<suffix>` / `-<suffix>`; parquet preferred when a folder has both."""
    found = {}
    for entry in sorted(os.listdir(folder)):
        for name in DATASETS:
            m = re.fullmatch(rf"(?:dbo\.)?{name}(?:[_\-.].*)?\.(csv|parquet)", entry, re.IGNORECASE)
            if m and (name not in found or m.group(1).lower() == "parquet"):
                found[name] = os.path.join(folder, entry)
    return found


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def source(path):
    if path.lower().endswith(".parquet"):
        return f"read_parquet({quote(path)})"
    # All text, cast in the query: the same parsing work the gateway does, and no sniffing surprises
    # (GUIDs in braces, empty dates, `0` date sentinels).
    return f"read_csv({quote(path)}, header = true, delim = ',', quote = '\"', escape = '\"', all_varchar = true)"


def connect(args):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if getattr(args, "threads", None):
        con.execute(f"SET threads = {int(args.threads)}")
    if getattr(args, "memory_limit", None):
        con.execute(f"SET memory_limit = {quote(args.memory_limit)}")
    return con


def to_parquet(src, dest):
    files = find_files(src)
    if "Users" not in files:
        die(f"no Users dataset in {src}")
    os.makedirs(dest, exist_ok=True)
    con = connect(argparse.Namespace())
    start = time.monotonic()
    out = {}
    for name, path in files.items():
        typed = TYPED.get(name, {})
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source(path)}").fetchall()]
        select = ", ".join(
            f'TRY_CAST("{c}" AS {typed[k]}) AS "{c}"' if (k := next((t for t in typed if t.lower() == c.lower()),
                                                                    None)) else f'"{c}"'
            for c in cols)
        target = os.path.join(dest, os.path.splitext(os.path.basename(path))[0] + ".parquet")
        con.execute(f"COPY (SELECT {select} FROM {source(path)}) TO {quote(target)} (FORMAT parquet)")
        out[os.path.basename(target)] = os.path.getsize(target)
    print(json.dumps({"parquet_s": round(time.monotonic() - start, 3), "files": out, "rss_mb": rss_mb()}))


def join(args):
    files = find_files(args.dir)
    missing = [n for n in REQUIRED if n not in files]
    if missing:
        die(f"missing datasets in {args.dir}: {', '.join(missing)}")
    baseline = rss_mb()
    start = time.monotonic()
    con = connect(args)
    for name in REQUIRED + OPTIONAL:
        if name in files:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source(files[name])}")
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT NULL::VARCHAR AS userId WHERE false")
    con.execute(f"CREATE VIEW scim AS SELECT * FROM {source(args.scim_users)}")
    scim_cols = {r[0].lower() for r in con.execute("DESCRIBE scim").fetchall()}
    for need in ["externalid", "displayname", "username", "active"]:
        if need not in scim_cols:
            die(f"{args.scim_users} has no column {need}")
    opt = lambda c: f"{c}" if c.lower() in scim_cols else f"NULL::VARCHAR AS {c}"  # noqa: E731
    norm = "lower(trim(replace(replace({}, '{{', ''), '}}', '')))"
    since = "TIMESTAMPTZ '2017-10-01 00:00:00+00'"
    query = f"""
    WITH
    u AS (
        SELECT userId, {norm.format('AADObjectId')} AS oid,
               row_number() OVER (ORDER BY TRY_CAST(CreatedOn AS TIMESTAMPTZ) NULLS LAST, userId) AS n
        FROM Users),
    xp AS (SELECT userId, sum(TRY_CAST(XP AS BIGINT)) AS totalXP FROM Progress GROUP BY userId),
    started AS (
        SELECT p.userId, count(DISTINCT h.moduleUid) AS modulesStarted
        FROM Progress p JOIN HierarchyUnit h ON h.unitUid = p.SourceUid
        WHERE lower(p.SourceType) = 'unit'
        GROUP BY p.userId),
    done AS (
        SELECT userId,
               count(*) FILTER (WHERE lower(awardType) = 'badge') AS modulesCompleted,
               count(*) FILTER (WHERE lower(awardType) = 'trophy') AS pathsCompleted
        FROM Achievements
        WHERE TRY_CAST(AwardedOn AS TIMESTAMPTZ) >= {since}
        GROUP BY userId),
    certs AS (SELECT userId, count(*) AS certifications FROM Certifications GROUP BY userId),
    skills AS (SELECT userId, count(*) AS appliedSkills FROM AppliedSkills GROUP BY userId),
    s AS (
        SELECT {norm.format('externalId')} AS oid, displayName, userName, active, {opt('mail')},
               {opt('department')}
        FROM scim
        WHERE externalId IS NOT NULL AND trim(externalId) <> ''
        QUALIFY row_number() OVER (PARTITION BY {norm.format('externalId')} ORDER BY id) = 1)
    SELECT u.userId,
           u.oid AS AADObjectId,
           s.oid IS NOT NULL AS matched,
           coalesce(s.displayName, 'User_' || u.n) AS name,
           s.displayName,
           s.userName AS userPrincipalName,
           s.mail,
           s.department,
           CASE WHEN s.oid IS NULL THEN NULL ELSE lower(CAST(s.active AS VARCHAR)) IN ('true', '1') END
               AS accountEnabled,
           coalesce(xp.totalXP, 0) AS totalXP,
           coalesce(done.modulesCompleted, 0) AS modulesCompleted,
           coalesce(done.pathsCompleted, 0) AS pathsCompleted,
           coalesce(started.modulesStarted, 0) AS modulesStarted,
           coalesce(certs.certifications, 0) AS certifications,
           coalesce(skills.appliedSkills, 0) AS appliedSkills
    FROM u
    LEFT JOIN s ON s.oid = u.oid
    LEFT JOIN xp ON xp.userId = u.userId
    LEFT JOIN started ON started.userId = u.userId
    LEFT JOIN done ON done.userId = u.userId
    LEFT JOIN certs ON certs.userId = u.userId
    LEFT JOIN skills ON skills.userId = u.userId
    """
    con.execute(f"CREATE TEMP TABLE report AS {query}")
    con.execute(f"COPY report TO {quote(args.out)} (HEADER, DELIMITER ',')")
    seconds = time.monotonic() - start
    rows, matched, total_xp = con.execute("SELECT count(*), count(*) FILTER (WHERE matched), sum(totalXP) "
                                          "FROM report").fetchone()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({
        "tool": "duckdb",
        "version": duckdb.__version__,
        "format": "parquet" if files["Users"].lower().endswith(".parquet") else "csv",
        "seconds": round(seconds, 3),
        "rss_mb": rss_mb(),
        "baseline_rss_mb": baseline,
        "threads": threads,
        "rows": rows,
        "matched": matched,
        "total_xp": int(total_xp or 0),
        "out": args.out,
    }))


def compare(a, b):
    con = connect(argparse.Namespace())
    con.execute(f"CREATE VIEW a AS SELECT * FROM {source(a)}")
    con.execute(f"CREATE VIEW b AS SELECT * FROM {source(b)}")
    cols = ["userId", "matched"] + METRICS
    for side, path in (("a", a), ("b", b)):
        have = {r[0].lower() for r in con.execute(f"DESCRIBE {side}").fetchall()}
        lacking = [c for c in cols if c.lower() not in have]
        if lacking:
            print(json.dumps({"compared": False, "reason": f"{path} lacks {', '.join(lacking)}"}))
            return
    # Text compare after normalising booleans and numbers (`1.0`, `True`).
    key = ", ".join(["userId", "lower(CAST(matched AS VARCHAR)) AS matched"]
                    + [f'TRY_CAST("{m}" AS BIGINT) AS "{m}"' for m in METRICS])
    rows_a, rows_b = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("a", "b"))
    only_a = con.execute(f"SELECT count(*) FROM (SELECT {key} FROM a EXCEPT ALL SELECT {key} FROM b)").fetchone()[0]
    only_b = con.execute(f"SELECT count(*) FROM (SELECT {key} FROM b EXCEPT ALL SELECT {key} FROM a)").fetchone()[0]
    sample = con.execute(f"SELECT * FROM (SELECT {key} FROM a EXCEPT ALL SELECT {key} FROM b) LIMIT 3").fetchall()
    print(json.dumps({"compared": True, "rows": [rows_a, rows_b], "only_in_first": only_a, "only_in_second": only_b,
                      "equal": rows_a == rows_b and only_a == 0 and only_b == 0,
                      "examples_only_in_first": [list(map(str, r)) for r in sample]}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs=2, metavar="PATH", help="DIR SCIM_USERS.csv | SRC_DIR DEST_DIR | A.csv B.csv")
    p.add_argument("--to-parquet", action="store_true", help="convert the CSVs of SRC_DIR to parquet in DEST_DIR")
    p.add_argument("--compare", action="store_true", help="compare two learner CSVs")
    p.add_argument("--out", help="result CSV (default: duckdb_report.csv in the current folder)",
                   default="duckdb_report.csv")
    p.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    p.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 4GB")
    args = p.parse_args()
    if args.to_parquet and args.compare:
        die("--to-parquet and --compare exclude each other")
    if args.to_parquet:
        to_parquet(*args.paths)
    elif args.compare:
        compare(*args.paths)
    else:
        args.dir, args.scim_users = args.paths
        if not os.path.isdir(args.dir):
            die(f"not a folder: {args.dir}")
        join(args)


if __name__ == "__main__":
    main()
