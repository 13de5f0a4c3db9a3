"""create_order with and without a subscribed webhook endpoint whose
receiver is slow: does the outbox and its deliveries cost the API? One run
per backend, rounds interleaved (none, one, none, one, ...), wrk at 32
connections. The receiver (tests/webhooks/receiver.py) verifies every
signature and answers after --receiver-delay-ms. Prints a table and writes
JSON. Everything on 127.0.0.1; each wrk run is bounded by --duration.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDERLY = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "orderly"
RECEIVER_PYTHON = ROOT / ".venv-webhooks" / "bin" / "python"
USERS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")


def wrk(base: str, duration: int, tag: str) -> dict:
    env = {**os.environ, "BENCH_SCENARIO": "create_order", "BENCH_USERS": str(USERS), "BENCH_TAG": tag}
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--timeout", "5s", "-s", str(ROOT / "bench" / "wrk.lua"), base],
        env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next(l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON "))
    r = json.loads(line[len("BENCH_JSON "):])
    seconds = r["duration_us"] / 1e6
    return {"rps": r["requests"] / seconds, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "errors": r["non_2xx"] + r["socket_errors"], "requests": r["requests"]}


def received(log: Path) -> list:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def run_backend(name: str, database_url: str, args, workdir: Path) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "ORDERLY_BIND": f"127.0.0.1:{port}",
           "ORDERLY_WEBHOOKS_ALLOW_PRIVATE": "true", "RUST_LOG": "warn"}
    orderly = subprocess.Popen([str(ORDERLY)], env=env, cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=open(workdir / f"{name}.log", "ab"))
    receiver = None
    try:
        deadline = time.time() + 30
        while True:
            try:
                call(base, "GET", "/healthz")
                break
            except Exception:
                if time.time() > deadline or orderly.poll() is not None:
                    raise SystemExit(f"{name}: orderly did not start (see {workdir / (name + '.log')})")
                time.sleep(0.2)
        for i in range(USERS):
            call(base, "POST", "/api/v1/users", {"email": f"wh-{i}@example.com", "name": "W"})
        receiver_port = free_port()
        log = workdir / f"{name}-received.jsonl"
        runs = {"none": [], "one slow endpoint": []}
        for round_ in range(args.rounds):
            # Alternating which goes first, so that the tables' growth over
            # the run does not favour either.
            order = ["none", "one slow endpoint"] if round_ % 2 == 0 else ["one slow endpoint", "none"]
            for label in order:
                if label == "none":
                    runs["none"].append(wrk(base, args.duration, f"{name}-n{round_}"))
                    continue
                # One endpoint, subscribed to every event, whose receiver is slow.
                endpoint = call(base, "POST", "/api/v1/webhook-endpoints",
                                {"url": f"http://127.0.0.1:{receiver_port}/hooks"})
                receiver = subprocess.Popen(
                    [str(RECEIVER_PYTHON), str(ROOT / "tests" / "webhooks" / "receiver.py"),
                     "--port", str(receiver_port), "--secret", endpoint["secret"], "--log", str(log),
                     "--delay-ms", str(args.receiver_delay_ms)],
                    stdout=subprocess.PIPE, text=True)
                receiver.stdout.readline()
                before = len(received(log))
                result = wrk(base, args.duration, f"{name}-o{round_}")
                result["delivered_during"] = len(received(log)) - before
                runs["one slow endpoint"].append(result)
                call(base, "DELETE", f"/api/v1/webhook-endpoints/{endpoint['id']}")
                receiver.terminate()
                receiver.wait(10)
                receiver = None
        verified = all(r["verified"] for r in received(log))
        return {"runs": runs, "all_signatures_verified": verified}
    finally:
        if receiver:
            receiver.kill()
        orderly.terminate()
        try:
            orderly.wait(10)
        except subprocess.TimeoutExpired:
            orderly.kill()


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--receiver-delay-ms", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "webhooks" / "run.json"))
    args = parser.parse_args()
    admin_url = os.environ.get("ORDERLY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    workdir = Path(tempfile.mkdtemp(prefix="orderly-webhooks-bench-"))
    results = {"cores": os.cpu_count(), "duration_s": args.duration, "rounds": args.rounds,
               "receiver_delay_ms": args.receiver_delay_ms, "connections": 32, "backends": {}}
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite://{workdir / 'bench.db'}"
            else:
                db = f"orderly_webhooks_bench_{os.getpid()}"
                subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {db}"], check=True)
                url = admin_url.rsplit("/", 1)[0] + f"/{db}"
            try:
                results["backends"][backend] = run_backend(backend, url, args, workdir)
            finally:
                if backend != "sqlite":
                    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"create_order, wrk 32 connections, {args.duration} s x {args.rounds} interleaved rounds, medians; "
          f"receiver answers after {args.receiver_delay_ms} ms; {os.cpu_count()} cores")
    print("| backend | endpoints | req/s | p50 ms | p99 ms | errors | delivered during the run |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for backend, r in results["backends"].items():
        for label, runs in r["runs"].items():
            delivered = median([x.get("delivered_during", 0) for x in runs]) if label != "none" else "-"
            print(f"| {backend} | {label} | {median([x['rps'] for x in runs]):,.0f} | "
                  f"{median([x['p50_ms'] for x in runs]):.2f} | {median([x['p99_ms'] for x in runs]):.2f} | "
                  f"{sum(x['errors'] for x in runs)} | {delivered} |")
        print(f"| {backend} | signatures verified | {r['all_signatures_verified']} | | | | |")
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
