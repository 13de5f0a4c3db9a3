#!/usr/bin/env python3
"""The embedded default against the PostgreSQL path, from one bench.py
results file (both targets measured interleaved in the same run): per
scenario, the median req/s of each, the server CPU per request of each
(orderly's, plus the PostgreSQL server's for the PostgreSQL path: the whole
database path), SQLite's throughput as a ratio to the PostgreSQL path, and
the writes per SQLite commit; then peak RSS.

Usage: python3 bench/sqlite_vs_pg.py RESULTS.json
"""

import json
import statistics
import sys


def main():
    results = json.load(open(sys.argv[1]))
    median = lambda runs, key: statistics.median(r[key] for r in runs)
    print("| scenario | PostgreSQL path req/s | its CPU µs/req (orderly + PostgreSQL) "
          "| SQLite req/s | SQLite CPU µs/req | SQLite ÷ PG path req/s | writes per SQLite commit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scenario, targets in results["runs"].items():
        pg, lite = targets.get("orderly-pg"), targets.get("orderly-sqlite")
        if not pg or not lite:
            continue
        own, server = median(pg, "cpu_us_per_req"), median(pg, "pg_cpu_us_per_req")
        batches = [r["sqlite_batch_mean"] for r in lite if r.get("sqlite_batch_mean")]
        batch = f"{statistics.median(batches):.1f}" if batches else "–"
        print(f"| {scenario} | {median(pg, 'rps'):,.0f} | {own:.0f} + {server:.0f} = {own + server:.0f} "
              f"| {median(lite, 'rps'):,.0f} | {median(lite, 'cpu_us_per_req'):.0f} "
              f"| {median(lite, 'rps') / median(pg, 'rps'):.2f} | {batch} |")
    rss = results.get("peak_rss_mib", {})
    print()
    print("Peak RSS (MiB, the whole run, get_user up to 256 connections included): "
          + ", ".join(f"{t} {m:.1f}" for t, m in rss.items() if m))


if __name__ == "__main__":
    main()
