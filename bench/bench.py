#!/usr/bin/env python3
"""orderly's benchmark: every target side by side in one run.

Targets: pgbench running each scenario's SQL (the ceiling), orderly on
PostgreSQL and on SQLite (release build), and FastAPI + asyncpg + uvicorn
with 1 and 2 workers. Each target gets a fresh database seeded with 10,000
users and 5,000 orders of 3 items. Scenarios run interleaved (scenario by
scenario, every target in turn), for --rounds rounds; each run is wrk (or
pgbench) for --duration seconds at --connections connections.

Replication targets (not in the default set): orderly-pg+cluster runs on
the primary of a throwaway cluster (scripts/topology/replicas.sh: a primary and two
hot standbys, the first synchronous) with no replicas configured, and
orderly-pg+replicas on the same primary with both standbys as read
replicas: on one machine replicas add no cores, so the two measure the
cost of routing reads, and the replicas target reports which server
served its reads.

Deployment targets (not in the default set), each on a fresh database of
the machine's PostgreSQL: orderly-pg+tls (sslmode=require: every
connection encrypted), orderly-pg+unnamed (--pg-prepared-statements=false,
direct), orderly-pg+pgbouncer-session (PgBouncer in session mode, prepared
statements) and orderly-pg+pgbouncer-tx (transaction mode, unnamed
statements), the PgBouncers started by scripts/topology/pgbouncer.sh. Every
orderly run also reports PostgreSQL's CPU per request, and PgBouncer's
where one is in front.

Run through bench/run.sh, which installs what this needs. (Longer than
most files: every target's set-up and the measuring loop are one story.)
"""

import argparse
import base64
import json
import os
import pathlib
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ADMIN_URL = os.environ.get("ORDERLY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ORDERLY = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "orderly"
VENV_BIN = pathlib.Path(os.environ.get("BENCH_VENV", ROOT / ".venv-bench")) / "bin"
SCENARIOS = ["get_user", "create_user", "update_user", "list_users", "create_order", "get_order"]
USERS, ORDERS = 10_000, 5_000
DEEP_AFTER = 9_000  # list_users reads the page after this id: deep in the table
CLK_TCK = os.sysconf("SC_CLK_TCK")
# PgBouncers for the deployment targets: (target, pool mode, port, orderly's extra settings).
POOLERS = {
    "orderly-pg+pgbouncer-session": ("session", 26445, {}),
    "orderly-pg+pgbouncer-tx": ("transaction", 26447, {"ORDERLY_PG_PREPARED_STATEMENTS": "false"}),
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


CLUSTER_PORT = int(os.environ.get("BENCH_CLUSTER_PORT", "25832"))
CLUSTER_ENV = {**os.environ, "ORDERLY_CLUSTER_DIR": "/tmp/orderly-bench-cluster",
               "ORDERLY_CLUSTER_PORT": str(CLUSTER_PORT)}
CLUSTER_ADMIN_URL = f"postgres://postgres@127.0.0.1:{CLUSTER_PORT}/postgres"
STANDBYS = [f"127.0.0.1:{CLUSTER_PORT + 1}", f"127.0.0.1:{CLUSTER_PORT + 2}"]


def db_url(name: str, admin_url: str = ADMIN_URL) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


def psql(url: str, sql: str) -> str:
    out = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cursor_after(user_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{user_id}".encode()).decode().rstrip("=")


def fresh_pg_database(name: str, users: int = USERS, orders: int = ORDERS, admin_url: str = ADMIN_URL) -> str:
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name}")
    url = db_url(name, admin_url)
    subprocess.run([str(ORDERLY), "migrate"], env={**os.environ, "DATABASE_URL": url},
                   check=True, capture_output=True)
    psql(url, f"""
        INSERT INTO users (email, name)
            SELECT 'seed-' || g || '@example.com', 'User ' || g FROM generate_series(1, {users}) g;
        INSERT INTO orders (user_id, total)
            SELECT (g % {min(users, USERS)}) + 1, 3074 FROM generate_series(1, {orders}) g;
        INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
            SELECT o.id, l, 'SKU-' || l, 1, 100 FROM orders o, generate_series(0, 2) l;""")
    psql(url, "VACUUM ANALYZE")
    return url


def fresh_sqlite_database(path: pathlib.Path, users: int = USERS, orders: int = ORDERS) -> str:
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(str(path) + suffix).unlink(missing_ok=True)
    url = f"sqlite://{path}"
    subprocess.run([str(ORDERLY), "migrate"], env={**os.environ, "DATABASE_URL": url},
                   check=True, capture_output=True)
    now = int(time.time() * 1_000_000)
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO users (email, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                       ((f"seed-{g}@example.com", f"User {g}", now, now) for g in range(1, users + 1)))
        db.executemany("INSERT INTO orders (user_id, total, created_at, updated_at) VALUES (?, 3074, ?, ?)",
                       (((g % min(users, USERS)) + 1, now, now) for g in range(1, orders + 1)))
        db.execute("INSERT INTO order_items (order_id, line, sku, quantity, unit_price) "
                   "SELECT o.id, l.value, 'SKU-' || l.value, 1, 100 FROM orders o, json_each('[0,1,2]') l")
        db.execute("ANALYZE")
    return url


def process_tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        # A process of the tree (a PostgreSQL backend) may exit meanwhile.
        try:
            kids = [int(p) for p in pathlib.Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids += kids
        frontier += kids
    return pids


def cpu_ticks(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def peak_rss_kib(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


class HttpTarget:
    """A server answering HTTP on a loopback port, driven by wrk."""

    def __init__(self, name: str, command: list[str], env: dict, cwd=None, log_path=None, api_key=False):
        self.name, self.command, self.env, self.cwd = name, command, env, cwd
        self.log_path = log_path  # where the server's log goes (None: discarded)
        self.port = free_port()
        self.proc = None
        # orderly only: serve with an API key, which every request then sends.
        self.api_key = api_key
        self.authorization = None
        # A PgBouncer in front (its pid file), whose CPU is counted too.
        self.pooler_pid_file = None

    def start(self):
        env = {**os.environ, **self.env}
        if self.api_key:
            key = subprocess.run([str(ORDERLY), "keys", "create", "--role", "admin", "--name", "bench"],
                                 env={**env, "RUST_LOG": "warn"}, capture_output=True, text=True, check=True)
            self.authorization = f"Bearer {key.stdout.strip()}"
        env["ORDERLY_BIND"] = f"127.0.0.1:{self.port}"
        command = [c.replace("{port}", str(self.port)) for c in self.command]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(command, env=env, cwd=self.cwd, stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                probe = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/users/1")
                if self.authorization:
                    probe.add_header("Authorization", self.authorization)
                urllib.request.urlopen(probe, timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.name} exited on start: {command}")
                time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer within 30 s")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def run(self, scenario: str, connections: int, duration: int, tag: str, cursor: str | None = None) -> dict:
        env = {**os.environ, "BENCH_SCENARIO": scenario, "BENCH_USERS": str(USERS),
               "BENCH_ORDERS": str(ORDERS), "BENCH_TAG": tag,
               "BENCH_CURSOR": cursor_after(DEEP_AFTER) if cursor is None else cursor,
               "BENCH_AUTHORIZATION": self.authorization or ""}
        before = cpu_ticks(self.proc.pid)
        pg_pid = postmaster_pid()
        pooler_pid = int(self.pooler_pid_file.read_text().split()[0]) if self.pooler_pid_file else None
        pg_before = server_cpu_ticks(pg_pid)
        pooler_before = cpu_ticks(pooler_pid) if pooler_pid else 0
        commits_before, writes_before = sqlite_batches(self.port) if "sqlite" in self.name else (0, 0)
        out = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
             "-s", str(BENCH / "wrk.lua"), f"http://127.0.0.1:{self.port}"],
            env=env, capture_output=True, text=True, timeout=duration + 60)
        cpu = cpu_ticks(self.proc.pid) - before
        pg_cpu = server_cpu_ticks(pg_pid) - pg_before
        pooler_cpu = cpu_ticks(pooler_pid) - pooler_before if pooler_pid else None
        commits, writes = sqlite_batches(self.port) if "sqlite" in self.name else (0, 0)
        commits, writes = commits - commits_before, writes - writes_before
        line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
        if line is None:
            raise SystemExit(f"wrk printed no result for {self.name}/{scenario}:\n{out.stdout}\n{out.stderr}")
        r = json.loads(line[len("BENCH_JSON "):])
        seconds = r["duration_us"] / 1e6
        return {"rps": r["requests"] / seconds, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
                "non_2xx": r["non_2xx"] + r["socket_errors"], "requests": r["requests"],
                "cpu_us_per_req": cpu / CLK_TCK * 1e6 / max(r["requests"], 1),
                "pg_cpu_us_per_req": pg_cpu / CLK_TCK * 1e6 / max(r["requests"], 1),
                "pooler_cpu_us_per_req": None if pooler_cpu is None
                else pooler_cpu / CLK_TCK * 1e6 / max(r["requests"], 1),
                # SQLite: the writes each commit carried, on average, and the commits.
                "sqlite_commits": commits or None,
                "sqlite_batch_mean": writes / commits if commits else None}

    def peak_rss_mib(self) -> float:
        return peak_rss_kib(self.proc.pid) / 1024


class PgbenchTarget:
    """pgbench running each scenario's SQL: the database's own ceiling."""

    name = "pgbench"

    def __init__(self, url: str):
        self.url = url

    def start(self):
        pass

    def stop(self):
        pass

    def run(self, scenario: str, connections: int, duration: int, tag: str, cursor=None) -> dict:
        with tempfile.TemporaryDirectory() as logs:
            out = subprocess.run(
                ["pgbench", "-n", "-M", "prepared", f"-c{connections}", f"-j{min(2, connections)}",
                 f"-T{duration}", "-l", "--log-prefix", f"{logs}/tx",
                 "-f", str(BENCH / "pgbench" / f"{scenario}.sql"), self.url],
                capture_output=True, text=True, timeout=duration + 60)
            if out.returncode != 0:
                raise SystemExit(f"pgbench failed on {scenario}:\n{out.stdout}\n{out.stderr}")
            latencies = []
            for f in pathlib.Path(logs).iterdir():
                for line in f.read_text().splitlines():
                    latencies.append(int(line.split()[2]))
        latencies.sort()
        tps = next(float(l.split("=")[1].split()[0]) for l in out.stdout.splitlines() if l.startswith("tps"))
        failed = next((int(l.split(":")[1].split()[0]) for l in out.stdout.splitlines()
                       if l.startswith("number of failed transactions")), 0)
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000 if latencies else 0
        return {"rps": tps, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "non_2xx": failed,
                "requests": len(latencies), "cpu_us_per_req": None}

    def peak_rss_mib(self):
        return None


def server_cpu_ticks(pid: int) -> int:
    """A server's CPU: its process tree's, plus what its children that
    exited meanwhile used (the root's cutime + cstime): a pooler's server
    connections come and go (server_lifetime), and a backend that exited
    leaves the tree."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return cpu_ticks(pid) + int(fields[13]) + int(fields[14])


def postmaster_pid() -> int:
    """The machine's PostgreSQL server (its postmaster; backends are its children)."""
    data = psql(ADMIN_URL, "SHOW data_directory").strip()
    return int(pathlib.Path(data, "postmaster.pid").read_text().split()[0])


def pgbouncer(action: str, target: str) -> pathlib.Path:
    """scripts/topology/pgbouncer.sh ACTION for `target`'s PgBouncer; its directory."""
    mode, port, _ = POOLERS[target]
    directory = pathlib.Path(f"/tmp/orderly-bench-{mode}-pgbouncer")
    server = ADMIN_URL.split("@", 1)[1].split("/", 1)[0]
    subprocess.run(["bash", str(ROOT / "scripts" / "topology" / "pgbouncer.sh"), action],
                   check=True, capture_output=True,
                   env={**os.environ, "ORDERLY_PGBOUNCER_DIR": str(directory), "ORDERLY_PGBOUNCER_PORT": str(port),
                        "ORDERLY_PGBOUNCER_SERVER": server, "ORDERLY_PGBOUNCER_MODE": mode})
    return directory


def cluster(action: str):
    subprocess.run(["bash", str(ROOT / "scripts" / "topology" / "replicas.sh"), action], env=CLUSTER_ENV,
                   check=True, capture_output=True)


def read_share(port: int) -> dict:
    """orderly_db_reads_total by target, from a running orderly's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    prefix = 'orderly_db_reads_total{target="'
    return {line[len(prefix):].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(prefix)}


def sqlite_batches(port: int) -> tuple[float, float]:
    """SQLite's commits so far and the writes they carried, from a running
    orderly's /metrics; (0, 0) where there is no such histogram."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return (0.0, 0.0)
    sample = lambda name: next((float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                                if l.startswith(name + " ")), 0.0)
    return (sample("orderly_sqlite_commit_batch_size_count"), sample("orderly_sqlite_commit_batch_size_sum"))


def build_targets(args, workdir: pathlib.Path) -> list:
    targets = []
    wanted = args.targets.split(",")
    if any(name in wanted for name in ("orderly-pg+cluster", "orderly-pg+replicas", "orderly-pg+replicas+store")):
        log("starting a throwaway cluster (scripts/topology/replicas.sh up)")
        cluster("up")
        url = fresh_pg_database("orderly_bench_cluster", admin_url=CLUSTER_ADMIN_URL)
        cluster("caught-up")
        if "orderly-pg+cluster" in wanted:
            targets.append(HttpTarget("orderly-pg+cluster", [str(ORDERLY)],
                                      {"DATABASE_URL": url, "RUST_LOG": args.orderly_log},
                                      log_path=workdir / "orderly-pg+cluster.log"))
        if "orderly-pg+replicas" in wanted:
            replicas = ",".join(f"postgres://postgres@{s}/orderly_bench_cluster" for s in STANDBYS)
            targets.append(HttpTarget("orderly-pg+replicas", [str(ORDERLY)],
                                      {"DATABASE_URL": url, "RUST_LOG": args.orderly_log,
                                       "ORDERLY_READ_REPLICA_URLS": replicas},
                                      log_path=workdir / "orderly-pg+replicas.log"))
        if "orderly-pg+replicas+store" in wanted:
            # The session store on the machine's Redis, database 14 (the bench's own), emptied first.
            subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
            replicas = ",".join(f"postgres://postgres@{s}/orderly_bench_cluster" for s in STANDBYS)
            targets.append(HttpTarget("orderly-pg+replicas+store", [str(ORDERLY)],
                                      {"DATABASE_URL": url, "RUST_LOG": args.orderly_log,
                                       "ORDERLY_READ_REPLICA_URLS": replicas,
                                       "ORDERLY_SESSION_STORE": "redis://127.0.0.1:6379/14"},
                                      log_path=workdir / "orderly-pg+replicas+store.log"))
    if "pgbench" in wanted:
        targets.append(PgbenchTarget(fresh_pg_database("orderly_bench_pgbench")))
    # `+key`: the same, serving with an API key that every request sends.
    for keyed in ("", "+key"):
        name = f"orderly-pg{keyed}"
        if name in wanted:
            url = fresh_pg_database(f"orderly_bench_orderly{keyed.replace('+', '_')}")
            targets.append(HttpTarget(name, [str(ORDERLY)], {"DATABASE_URL": url, "RUST_LOG": args.orderly_log},
                                      log_path=workdir / f"{name}.log", api_key=bool(keyed)))
        name = f"orderly-sqlite{keyed}"
        if name in wanted:
            url = fresh_sqlite_database(workdir / f"{name}.db")
            targets.append(HttpTarget(name, [str(ORDERLY)], {"DATABASE_URL": url, "RUST_LOG": args.orderly_log},
                                      log_path=workdir / f"{name}.log", api_key=bool(keyed)))
    deployment = {"orderly-pg+tls": ("?sslmode=require", {}),
                  "orderly-pg+unnamed": ("", {"ORDERLY_PG_PREPARED_STATEMENTS": "false"})}
    for name, (params, extra) in deployment.items():
        if name in wanted:
            url = fresh_pg_database(f"orderly_bench_{name.split('+')[1]}") + params
            targets.append(HttpTarget(name, [str(ORDERLY)], {"DATABASE_URL": url, "RUST_LOG": args.orderly_log,
                                                             **extra}, log_path=workdir / f"{name}.log"))
    for name, (mode, port, extra) in POOLERS.items():
        if name in wanted:
            database = f"orderly_bench_pgbouncer_{mode}"
            fresh_pg_database(database)
            directory = pgbouncer("up", name)
            url = f"postgres://postgres@127.0.0.1:{port}/{database}"
            target = HttpTarget(name, [str(ORDERLY)], {"DATABASE_URL": url, "RUST_LOG": args.orderly_log, **extra},
                                log_path=workdir / f"{name}.log")
            target.pooler_pid_file = directory / "pgbouncer.pid"
            targets.append(target)
    for workers in (1, 2):
        name = f"fastapi-{workers}w"
        if name in wanted:
            url = fresh_pg_database(f"orderly_bench_fastapi_{workers}")
            targets.append(HttpTarget(
                name,
                [str(VENV_BIN / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", "{port}",
                 "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                 "--log-level", "warning"],
                {"DATABASE_URL": url}, cwd=BENCH / "fastapi_app"))
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="connections per run (default 32)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default 1)")
    parser.add_argument("--targets", default="pgbench,orderly-pg,orderly-sqlite,fastapi-1w,fastapi-2w",
                        help="also orderly-pg+key and orderly-sqlite+key (serving with an API key, sent by every "
                             "request), orderly-pg+cluster and orderly-pg+replicas (a throwaway cluster's primary, "
                             "without and with its two standbys as read replicas), orderly-pg+replicas+store (with "
                             "them and a session store on Redis database 14), orderly-pg+tls, orderly-pg+unnamed, "
                             "orderly-pg+pgbouncer-session, orderly-pg+pgbouncer-tx (see above)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--curve", default="16,64,256", help="get_user connection counts ('' to skip)")
    parser.add_argument("--deep-rows", type=int, default=1_000_000, help="rows for the list-depth test (0 skips)")
    parser.add_argument("--orderly-log", default="info",
                        help="orderly's RUST_LOG; its log goes to a file, as in production (default info: a line per request)")
    parser.add_argument("--out", default=str(BENCH / "results" / "latest.json"))
    args = parser.parse_args()

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="orderly-bench-"))
    targets = build_targets(args, workdir)
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "duration_s": args.duration, "connections": args.connections, "rounds": args.rounds,
               "orderly_log": args.orderly_log, "runs": {}, "curve": {}, "depth": {}, "peak_rss_mib": {}}
    try:
        for t in targets:
            log(f"starting {t.name}")
            t.start()
        scenarios = args.scenarios.split(",")
        for round_no in range(args.rounds):
            for scenario in scenarios:
                for t in targets:
                    tag = f"{t.name}-{round_no}-{int(time.time())}"
                    r = t.run(scenario, args.connections, args.duration, tag)
                    results["runs"].setdefault(scenario, {}).setdefault(t.name, []).append(r)
                    cpu = "" if r["cpu_us_per_req"] is None else (
                        f"  cpu {r['cpu_us_per_req']:5.1f} / pg {r['pg_cpu_us_per_req']:5.1f}"
                        + ("" if r["pooler_cpu_us_per_req"] is None else f" / pooler {r['pooler_cpu_us_per_req']:5.1f}")
                        + " µs/req"
                        + ("" if not r.get("sqlite_batch_mean") else
                           f"  batch {r['sqlite_batch_mean']:.1f} over {r['sqlite_commits']:.0f} commits"))
                    log(f"round {round_no + 1} {scenario:13} {t.name:28} {r['rps']:9.0f} req/s  "
                        f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  non-2xx {r['non_2xx']}{cpu}")
        for conns in [int(c) for c in args.curve.split(",") if c]:
            for t in targets:
                if isinstance(t, PgbenchTarget) and conns > 40:
                    continue  # max_connections (100) less the idle pools of the other targets
                r = t.run("get_user", conns, args.duration, f"curve-{conns}")
                results["curve"].setdefault(t.name, {})[conns] = r
                log(f"curve get_user c={conns:3} {t.name:15} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:7.2f} ms  "
                    f"non-2xx {r['non_2xx']}")
        for t in targets:
            results["peak_rss_mib"][t.name] = t.peak_rss_mib()
            if t.name.startswith("orderly-pg"):
                results.setdefault("reads_by_target", {})[t.name] = read_share(t.port)
            if getattr(t, "log_path", None) and t.log_path.exists():
                with open(t.log_path, "rb") as f:
                    results.setdefault("log_lines", {})[t.name] = sum(1 for _ in f)
    except BaseException:
        drop_bench_databases()
        raise
    finally:
        for t in targets:
            t.stop()
        if any(t.name in ("orderly-pg+cluster", "orderly-pg+replicas", "orderly-pg+replicas+store") for t in targets):
            cluster("down")
        for name in POOLERS:
            if any(t.name == name for t in targets):
                pgbouncer("down", name)
    try:
        if args.deep_rows:
            results["depth"] = depth_test(args, workdir)
    finally:
        drop_bench_databases()
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(results, indent=2))
    log(f"wrote {args.out}")


def drop_bench_databases():
    """Leaves no benchmark database behind on the server."""
    names = psql(ADMIN_URL, "SELECT datname FROM pg_database WHERE datname LIKE 'orderly\\_bench\\_%'")
    for name in names.split():
        psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def depth_test(args, workdir: pathlib.Path) -> dict:
    """list_users at the first page and the last page of a big table."""
    rows = args.deep_rows
    log(f"seeding {rows} users for the depth test")
    pg = HttpTarget("orderly-pg", [str(ORDERLY)],
                    {"DATABASE_URL": fresh_pg_database("orderly_bench_deep", users=rows, orders=0), "RUST_LOG": "warn"})
    lite = HttpTarget("orderly-sqlite", [str(ORDERLY)],
                      {"DATABASE_URL": fresh_sqlite_database(workdir / "deep.db", users=rows, orders=0),
                       "RUST_LOG": "warn"})
    depth = {}
    for t in (pg, lite):
        t.start()
        try:
            for label, cursor in (("first", ""), ("last", cursor_after(rows - 50))):
                r = t.run("list_users", args.connections, args.duration, "depth", cursor=cursor)
                depth.setdefault(t.name, {})[label] = r
                log(f"depth {label:5} page {t.name:15} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:7.2f} ms")
        finally:
            t.stop()
    return depth


def machine() -> str:
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


if __name__ == "__main__":
    main()
