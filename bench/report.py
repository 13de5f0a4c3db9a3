#!/usr/bin/env python3
"""Turns bench/results/latest.json into the tables of docs/performance.md
(between its bench:start and bench:end markers) and the ratio chart
bench/ratios.png."""

import json
import pathlib
import statistics
import sys

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def tables(res: dict) -> str:
    runs = res["runs"]
    targets = list(next(iter(runs.values())).keys())
    out = [f"Measured {res['date']} on {res['machine']}; {res['duration_s']} s per run, "
           f"{res['connections']} connections, {res['rounds']} round(s), medians across rounds.", ""]
    out.append("| scenario | target | req/s | ÷ pgbench | p50 ms | p99 ms | non-2xx | server CPU µs/req |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scenario, by_target in runs.items():
        ceiling = median(by_target.get("pgbench", []), "rps")
        for t in targets:
            rs = by_target.get(t, [])
            rps = median(rs, "rps")
            ratio = rps / ceiling if ceiling and rps else None
            non_2xx = sum(r["non_2xx"] for r in rs)
            out.append(f"| {scenario} | {t} | {fmt(rps, ',.0f')} | {fmt(ratio, '.2f')} | "
                       f"{fmt(median(rs, 'p50_ms'), '.2f')} | {fmt(median(rs, 'p99_ms'), '.2f')} | "
                       f"{non_2xx} | {fmt(median(rs, 'cpu_us_per_req'), '.0f')} |")
    curve_note = " (the 256-connection curve included)" if res.get("curve") else ""
    out += ["", f"Peak resident memory over the whole run{curve_note}:", "",
            "| target | peak RSS MiB |", "| --- | ---: |"]
    for t, mib in res["peak_rss_mib"].items():
        out.append(f"| {t} | {fmt(mib, '.1f')} |")
    if res.get("curve"):
        conns = sorted({int(c) for by in res["curve"].values() for c in by})
        out += ["", "get_user by connection count (req/s, p99 ms):", "",
                "| target | " + " | ".join(f"c={c}" for c in conns) + " |",
                "| --- |" + " ---: |" * len(conns)]
        for t, by in res["curve"].items():
            cells = [f"{by[str(c)]['rps']:,.0f} / {by[str(c)]['p99_ms']:.1f}" if str(c) in by else "n/a"
                     for c in conns]
            out.append(f"| {t} | " + " | ".join(cells) + " |")
    if res.get("depth"):
        out += ["", "list_users on a 1,000,000-user table, first page vs last page:", "",
                "| target | first page req/s | last page req/s | last ÷ first |", "| --- | ---: | ---: | ---: |"]
        for t, d in res["depth"].items():
            first, last = d["first"]["rps"], d["last"]["rps"]
            out.append(f"| {t} | {first:,.0f} | {last:,.0f} | {last / first:.2f} |")
    vs = versus_fastapi(res)
    if vs:
        out += ["", "orderly on PostgreSQL vs FastAPI with 2 workers (req/s ratio):", "",
                "| scenario | orderly-pg ÷ fastapi-2w |", "| --- | ---: |"]
        out += [f"| {s} | {r:.1f}x |" for s, r in vs.items()]
    return "\n".join(out)


def versus_fastapi(res):
    out = {}
    for scenario, by in res["runs"].items():
        a, b = median(by.get("orderly-pg", []), "rps"), median(by.get("fastapi-2w", []), "rps")
        if a and b:
            out[scenario] = a / b
    return out


def chart(res: dict, path: pathlib.Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = res["runs"]
    scenarios = list(runs)
    targets = [t for t in next(iter(runs.values())) if t != "pgbench"]
    width = 0.8 / max(len(targets), 1)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, t in enumerate(targets):
        ratios = []
        for s in scenarios:
            ceiling, rps = median(runs[s].get("pgbench", []), "rps"), median(runs[s].get(t, []), "rps")
            ratios.append(rps / ceiling if ceiling and rps else 0)
        ax.bar([x + i * width for x in range(len(scenarios))], ratios, width, label=t)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(len(scenarios))], scenarios)
    ax.set_ylabel("req/s ÷ pgbench tps")
    ax.set_title(f"Throughput relative to pgbench ({res['date']}, {res['machine'].split(' (')[0]})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    res = json.loads((BENCH / "results" / "latest.json").read_text())
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text()
    if START not in text or END not in text:
        sys.exit("docs/performance.md lacks the bench markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{tables(res)}\n{END}{tail}")
    chart(res, BENCH / "ratios.png")
    print(tables(res))


if __name__ == "__main__":
    main()
