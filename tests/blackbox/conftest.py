"""Fixtures for the seed's pytest suite, pointed at a running orderly.

`client` talks HTTP to the service at ORDERLY_BASE_URL; `db_pool` is an
asyncpg pool on the service's own PostgreSQL database at ORDERLY_DSN.
`scripts/suite/blackbox.sh` starts a fresh service and database and sets both.
"""

import os

import asyncpg
import httpx
import pytest
import pytest_asyncio

# The seed's rollback test inserts an order for user 1, and orders.user_id
# is a foreign key checked at that INSERT: user 1 must exist, as the seed's
# own fixtures would have made it. When it is inserted here, the identity
# sequence is moved past it (never back), so users created later never
# collide with this one.
SEED_USER_1 = """
    WITH seeded AS (
        INSERT INTO users (id, email, name)
        VALUES (1, 'seed-user-1@example.com', 'Seed User 1')
        ON CONFLICT DO NOTHING
        RETURNING id)
    SELECT setval(pg_get_serial_sequence('users', 'id'),
                  GREATEST(1, (SELECT max(id) FROM users),
                           pg_sequence_last_value(pg_get_serial_sequence('users', 'id')::regclass)))
    FROM seeded;
"""


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run this suite through scripts/suite/blackbox.sh, "
            "which starts orderly on a fresh PostgreSQL database and sets it",
            pytrace=False,
        )
    return value


@pytest_asyncio.fixture
async def client():
    async with httpx.AsyncClient(base_url=_required_env("ORDERLY_BASE_URL"), timeout=10) as c:
        yield c


@pytest_asyncio.fixture
async def db_pool():
    pool = await asyncpg.create_pool(_required_env("ORDERLY_DSN"), min_size=2, max_size=10)
    async with pool.acquire() as conn:
        await conn.execute(SEED_USER_1)
    yield pool
    await pool.close()
