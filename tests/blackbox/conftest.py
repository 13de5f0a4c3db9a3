"""Fixtures for the seed's pytest suite, pointed at a running orderly.

`client` talks HTTP to the service at ORDERLY_BASE_URL; `db_pool` is an
asyncpg pool on the service's own PostgreSQL database at ORDERLY_DSN.
`scripts/blackbox.sh` starts a fresh service and database and sets both.
"""

import os

import asyncpg
import httpx
import pytest
import pytest_asyncio


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run this suite through scripts/blackbox.sh, "
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
    yield pool
    await pool.close()
