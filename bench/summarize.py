#!/usr/bin/env python3
"""Median table over several scim-bench --json outputs: python3 bench/summarize.py run1.json run2.json ..."""
import json
import statistics
import sys

runs = [json.load(open(p)) for p in sys.argv[1:]]
if not runs:
    sys.exit("usage: summarize.py RUN.json [RUN.json ...]")
phases = [p["phase"] for p in runs[0]["phases"]]
print("| phase | requests | errors | req/s (median) | req/s (runs) | p50 ms | p99 ms | peak RSS MB |")
print("|---|---:|---:|---:|---|---:|---:|---:|")
for name in phases:
    rows = [p for r in runs for p in r["phases"] if p["phase"] == name]
    rows.sort(key=lambda p: p["req_per_s"])
    mid = rows[len(rows) // 2]
    every = ", ".join(f"{p['req_per_s']:.0f}" for p in rows)
    print(f"| {name} | {mid['requests']} | {sum(p['errors'] for p in rows)} | {mid['req_per_s']:.0f} | {every} "
          f"| {mid['p50_ms']:.2f} | {mid['p99_ms']:.2f} | {max(p['peak_rss_mb'] or 0 for p in rows):.1f} |")
hwm = max((r.get("server") or {}).get("vm_hwm_mb") or 0 for r in runs)
print(f"\nserver peak RSS (VmHWM, max over runs): {hwm:.1f} MB")
