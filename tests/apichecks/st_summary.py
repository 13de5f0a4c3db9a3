"""Prints the numbers of a schemathesis v4 JSON run report (st run --report json).

    python st_summary.py REPORT_JSON
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        report = json.load(f)
    ops = report.get("operations", {})
    cases = report.get("test_cases", {})
    phases = report.get("phases", {})
    print(
        f"schemathesis {report.get('schemathesis_version')}: seed {report.get('seed')}, "
        f"{report.get('running_time', 0):.1f} s, stop reason {report.get('stop_reason')}, exit code {report.get('exit_code')}"
    )
    print(
        f"  operations: {ops.get('selected')} selected of {ops.get('total')}, {ops.get('tested')} tested, "
        f"{ops.get('errored')} errored, {ops.get('skipped')} skipped"
    )
    print("  phases: " + ", ".join(f"{name} {phase.get('status')}" for name, phase in phases.items()))
    print(
        f"  test cases: {cases.get('generated')} generated, {cases.get('with_failures')} with failures, "
        f"{cases.get('unique_failures')} unique failures, {cases.get('errored')} errored"
    )
    failures = report.get("failures") or []
    print(f"  failures: {sum(f.get('count', 0) for f in failures)}")
    for failure in failures:
        operations = failure.get("operations") or []
        names = [o if isinstance(o, str) else (o.get("label") or o.get("operation") or json.dumps(o)) for o in operations]
        print(f"    {failure.get('code')} {failure.get('title')}: {failure.get('count')} in {', '.join(map(str, names))}")
    errors = report.get("errors") or []
    print(f"  errors: {len(errors)}")
    for error in errors:
        print(f"    {json.dumps(error)[:400]}")
    warnings = {k: v for k, v in (report.get("warnings") or {}).items() if v}
    print(f"  warnings: {', '.join(f'{k} ({len(v)})' for k, v in warnings.items()) or 'none'}")
    for kind, items in warnings.items():
        for item in items:
            print(f"    {kind}: {item if isinstance(item, str) else json.dumps(item)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
