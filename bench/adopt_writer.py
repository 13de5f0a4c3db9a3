"""The old service's writes during `orderly migrate --adopt`: CONNECTIONS
asyncpg connections each create a user and an order with one item in one
transaction, the way tests/legacy/app.py does, back to back, until the file
STOP exists (or MAX_SECONDS pass). Prints, as JSON, how many writes ran and
their latencies: while adoption ran, and in the seconds before it started.

Usage: python adopt_writer.py DSN STARTED_FILE STOP_FILE
(STARTED_FILE appears when adoption starts; the writer notes the moment.)
"""

import asyncio
import json
import os
import sys
import time
import uuid

import asyncpg

CONNECTIONS = 4
MAX_SECONDS = 600


async def writer(dsn, samples, stop):
    conn = await asyncpg.connect(dsn)
    try:
        while not os.path.exists(stop):
            began = time.monotonic()
            async with conn.transaction():
                user = await conn.fetchval(
                    "INSERT INTO users (email, name) VALUES ($1, 'Writer') RETURNING id",
                    f"w-{uuid.uuid4().hex}@example.com",
                )
                order = await conn.fetchval(
                    "INSERT INTO orders (user_id, total) VALUES ($1, 500) RETURNING id", user
                )
                await conn.execute(
                    "INSERT INTO order_items (order_id, line, sku, quantity, unit_price) "
                    "VALUES ($1, 0, 'SKU', 1, 500)",
                    order,
                )
            samples.append((began, time.monotonic() - began))
    finally:
        await conn.close()


def summary(latencies):
    if not latencies:
        return {"writes": 0}
    ordered = sorted(latencies)
    return {
        "writes": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def main(dsn, started_file, stop):
    samples = []
    deadline = time.monotonic() + MAX_SECONDS
    tasks = [asyncio.create_task(writer(dsn, samples, stop)) for _ in range(CONNECTIONS)]
    adoption_began = None
    while not all(t.done() for t in tasks) and time.monotonic() < deadline:
        if adoption_began is None and os.path.exists(started_file):
            adoption_began = time.monotonic()
        await asyncio.sleep(0.05)
    open(stop, "a").close()
    await asyncio.gather(*tasks)
    if adoption_began is None:
        sys.exit("adoption never started")
    before = [lat for began, lat in samples if began + lat < adoption_began]
    during = [lat for began, lat in samples if began + lat >= adoption_began]
    print(json.dumps({"before_adoption": summary(before), "during_adoption": summary(during)}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
