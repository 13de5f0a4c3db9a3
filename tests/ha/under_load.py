"""Keyed order load through the balancer while something happens to the
database cluster (a killed leader, a planned switchover), then a check of
what the clients were told against what the new leader holds.

Each of CLIENTS threads sends orders, each under an idempotency key of its
own; a 503 is retried with the same key after its Retry-After, as a careful
client does, until the key is answered 201 (or the run's time is up). The
EVENT command runs once the load has run WARMUP seconds. The load goes on
until writes have been back for AFTER seconds (or LIMIT seconds passed).

Checked, on the cluster's leader afterwards:
- every 201 is an order on the leader, with its items and its total;
- every key answered 201 names one order, the same on every answer, and
  the buyer has exactly as many orders as keys answered;
- the clients saw only the statuses ALLOWED (201 and 503, or 201 alone);
- every 503 carried Retry-After.
Prints the figures as one JSON line (and a human summary); exits 1 on any
failed check.

Usage: python under_load.py --base URL --dsn DSN --event "CMD" [--allowed 201,503]
"""

import argparse
import asyncio
import json
import random
import subprocess
import sys
import threading
import time

import asyncpg
import httpx

CLIENTS = 8
WARMUP = 2.0
AFTER = 3.0
LIMIT = 45.0


class Run:
    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.event_at = None  # monotonic time the event command started
        self.statuses = {}  # status (or "error: ...") -> count
        self.no_retry_after = 0
        self.acknowledged = {}  # key -> (order id, body)
        self.answers = {}  # key -> set of order ids answered
        self.unresolved = []  # keys never answered 201
        self.after_event = []  # (sent, answered, ok) of attempts sent after the event
        self.last_failure = None  # monotonic time the last failed attempt was answered

    def note(self, key, sent, status, order_id, retry_after_ok):
        answered = time.monotonic()
        with self.lock:
            if self.event_at is not None and sent >= self.event_at:
                self.after_event.append((sent, answered, status == 201))
            if status != 201:
                self.last_failure = answered
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 503 and not retry_after_ok:
                self.no_retry_after += 1
            if status == 201:
                self.answers.setdefault(key, set()).add(order_id)

    def writes_back_after(self):
        """Seconds from the event to the first 201 sent after the last
        failure (0 when no write failed after the event); None if writes
        never came back."""
        failures = [a for s, a, ok in self.after_event if not ok]
        if not failures:
            return 0.0
        last = max(failures)
        back = [a for s, a, ok in self.after_event if ok and s >= last]
        return min(back) - self.event_at if back else None


def client_loop(run, base, user_id, worker):
    n = 0
    with httpx.Client(base_url=base, timeout=15.0) as http:
        while not run.stop.is_set():
            n += 1
            key = f"ha-{worker}-{n}-{random.randrange(1 << 30)}"
            items = [{"sku": f"SKU-{i}", "quantity": random.randint(1, 3), "unit_price": random.randint(1, 5000)}
                     for i in range(random.randint(1, 3))]
            body = {"user_id": user_id, "items": items}
            while True:
                sent = time.monotonic()
                try:
                    resp = http.post("/api/v1/orders", json=body, headers={"Idempotency-Key": key})
                    status = resp.status_code
                    order_id = resp.json().get("id") if status == 201 else None
                    retry_after = resp.headers.get("retry-after")
                except httpx.HTTPError as e:
                    status, order_id, retry_after = f"error: {type(e).__name__}", None, None
                run.note(key, sent, status, order_id, retry_after is not None)
                if status == 201:
                    with run.lock:
                        run.acknowledged[key] = (order_id, body)
                    break
                if status != 503 and not str(status).startswith("error"):
                    break  # counted; the check fails on it
                if run.stop.is_set() and time.monotonic() > run.deadline:
                    with run.lock:
                        run.unresolved.append(key)
                    return
                time.sleep(min(float(retry_after or 0.2), 1.0))


async def check(run, dsn, user_id):
    conn = await asyncpg.connect(dsn, target_session_attrs="read-write")
    try:
        problems = []
        found = 0
        for key, (order_id, body) in run.acknowledged.items():
            row = await conn.fetchrow("SELECT total FROM orders WHERE id = $1 AND user_id = $2", order_id, user_id)
            items = await conn.fetch("SELECT sku, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY sku", order_id)
            expected = sorted((i["sku"], i["quantity"], i["unit_price"]) for i in body["items"])
            got = [(r["sku"], r["quantity"], r["unit_price"]) for r in items]
            if row is None:
                problems.append(f"order {order_id} (key {key}) acknowledged but not on the leader")
                continue
            if got != expected or row["total"] != sum(q * p for _, q, p in expected):
                problems.append(f"order {order_id} (key {key}): items {got} total {row['total']}, expected {expected}")
                continue
            found += 1
        for key, ids in run.answers.items():
            if len(ids) != 1:
                problems.append(f"key {key} answered with several orders: {sorted(ids)}")
        count = await conn.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", user_id)
        if count != len(run.acknowledged):
            problems.append(f"the buyer has {count} orders on the leader, {len(run.acknowledged)} keys were acknowledged")
        return found, count, problems
    finally:
        await conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--event", required=True, help="shell command run once the load runs")
    parser.add_argument("--allowed", default="201,503")
    parser.add_argument("--name", default="event")
    args = parser.parse_args()
    allowed = {int(s) for s in args.allowed.split(",")}

    with httpx.Client(base_url=args.base, timeout=10.0) as http:
        resp = http.post("/api/v1/users", json={"email": f"buyer-{random.randrange(1 << 40)}@example.com", "name": "Buyer"})
        resp.raise_for_status()
        user_id = resp.json()["id"]

    run = Run()
    run.deadline = time.monotonic() + LIMIT + 30
    threads = [threading.Thread(target=client_loop, args=(run, args.base, user_id, w), daemon=True) for w in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(WARMUP)
    run.event_at = time.monotonic()
    event = subprocess.run(args.event, shell=True, capture_output=True, text=True)
    event_took = time.monotonic() - run.event_at
    print(f"{args.name}: `{args.event}` -> {event.stdout.strip()} {event.stderr.strip()} ({event_took:.1f} s)", file=sys.stderr)
    # Until writes have gone well for AFTER seconds since the event's end.
    while time.monotonic() - started < LIMIT:
        quiet_since = max(run.last_failure or 0, run.event_at + event_took)
        if time.monotonic() - quiet_since > AFTER:
            break
        time.sleep(0.1)
    run.stop.set()
    for t in threads:
        t.join(timeout=40)

    found, on_leader, problems = asyncio.run(check(run, args.dsn, user_id))
    if event.returncode != 0:
        problems.append(f"the event command failed ({event.returncode})")
    unexpected = {s: c for s, c in run.statuses.items() if s not in allowed}
    if unexpected:
        problems.append(f"statuses outside {sorted(allowed)}: {unexpected}")
    if run.no_retry_after:
        problems.append(f"{run.no_retry_after} answers of 503 without Retry-After")
    if run.unresolved:
        problems.append(f"{len(run.unresolved)} keys never answered 201: {run.unresolved[:5]}")
    back_after = run.writes_back_after()
    if back_after is None:
        problems.append("writes did not come back after the event")
    figures = {
        "event": args.name,
        "acknowledged": len(run.acknowledged),
        "found_on_leader": found,
        "orders_on_leader": on_leader,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items(), key=lambda kv: str(kv[0]))},
        "status_500s": sum(c for s, c in run.statuses.items() if isinstance(s, int) and s >= 500 and s != 503),
        "seconds_from_event_to_writes_back": None if back_after is None else round(back_after, 2),
        "event_command_seconds": round(event_took, 2),
        "problems": problems,
    }
    print(json.dumps(figures))
    print(f"{args.name}: {len(run.acknowledged)} orders acknowledged, {found} found on the leader with their items and totals; "
          f"statuses {figures['statuses']}; writes back {figures['seconds_from_event_to_writes_back']} s after the event began",
          file=sys.stderr)
    for p in problems:
        print(f"{args.name}: FAILED: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
