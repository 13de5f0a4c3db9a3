#!/usr/bin/env python3
"""The table of an interleaved A/B benchmark: bench.py runs of two
binaries, one round per file, named DIR/ab-A-N.json and DIR/ab-B-N.json.
Prints, per scenario and target, each binary's median req/s (with its
range), B over A, and each one's median CPU per request.

Usage: python3 bench/ab_report.py DIR [A B]     (default: before after)
"""

import json
import pathlib
import statistics
import sys


def runs(directory: pathlib.Path, name: str):
    found = {}
    for path in sorted(directory.glob(f"ab-{name}-*.json")):
        for scenario, targets in json.loads(path.read_text())["runs"].items():
            for target, results in targets.items():
                found.setdefault((scenario, target), []).extend(results)
    return found


def main():
    directory = pathlib.Path(sys.argv[1])
    a, b = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("before", "after")
    first, second = runs(directory, a), runs(directory, b)
    print(f"| scenario | target | {a} req/s (range) | {b} req/s (range) | {b} ÷ {a} "
          f"| {a} CPU µs/req | {b} CPU µs/req |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for key in first:
        if key not in second:
            continue
        x, y = first[key], second[key]
        rps = lambda rs: statistics.median(r["rps"] for r in rs)
        span = lambda rs: f"{min(r['rps'] for r in rs):,.0f}–{max(r['rps'] for r in rs):,.0f}"
        cpu = lambda rs: statistics.median(r["cpu_us_per_req"] for r in rs)
        print(f"| {key[0]} | {key[1]} | {rps(x):,.0f} ({span(x)}) | {rps(y):,.0f} ({span(y)}) "
              f"| {rps(y) / rps(x):.2f} | {cpu(x):.1f} | {cpu(y):.1f} |")


if __name__ == "__main__":
    main()
