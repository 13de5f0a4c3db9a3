"""The legacy FastAPI service (tests/legacy/app.py) and orderly, serving one
adopted database at the same time.

LEGACY_BASE_URL and ORDERLY_BASE_URL are the two services, ORDERLY_DSN the
database they share. `scripts/suite/adopt-side-by-side.sh` creates the database
through the legacy service, runs `orderly migrate --adopt`, starts orderly
and sets all three.
"""

import asyncio
import os
import uuid
from datetime import datetime

import asyncpg
import httpx
import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio

USER_KEYS = {"id", "email", "name", "created_at", "updated_at"}
ORDER_KEYS = {"id", "user_id", "status", "currency", "items", "total", "created_at", "updated_at"}
ITEMS = [{"sku": "BOOK-1", "quantity": 2, "unit_price": 1250}, {"sku": "PEN-7", "quantity": 3, "unit_price": 99}]


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run this module through scripts/suite/adopt-side-by-side.sh, which "
            "starts the legacy service and orderly on one adopted PostgreSQL database and sets it",
            pytrace=False,
        )
    return value


@pytest_asyncio.fixture
async def legacy():
    async with httpx.AsyncClient(base_url=_required_env("LEGACY_BASE_URL"), timeout=10) as c:
        yield c


@pytest_asyncio.fixture
async def orderly():
    async with httpx.AsyncClient(base_url=_required_env("ORDERLY_BASE_URL"), timeout=10) as c:
        yield c


@pytest_asyncio.fixture
async def db():
    conn = await asyncpg.connect(_required_env("ORDERLY_DSN"))
    yield conn
    await conn.close()


def fresh_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def instant(value: str) -> datetime:
    assert value.endswith(("Z", "+00:00")), f"timestamp not in UTC: {value!r}"
    return datetime.fromisoformat(value)


async def create_user(client: httpx.AsyncClient, email: str | None = None) -> dict:
    resp = await client.post("/api/v1/users", json={"email": email or fresh_email("sbs"), "name": "Side By Side"})
    assert resp.status_code == 201, f"{client.base_url}: {resp.status_code} {resp.text}"
    return resp.json()


async def create_order(client: httpx.AsyncClient, user_id: int, items=ITEMS) -> dict:
    resp = await client.post("/api/v1/orders", json={"user_id": user_id, "items": items})
    assert resp.status_code == 201, f"{client.base_url}: {resp.status_code} {resp.text}"
    return resp.json()


async def move(client: httpx.AsyncClient, order_id: int, status: str, method: str = "PUT") -> httpx.Response:
    return await client.request(method, f"/api/v1/orders/{order_id}", json={"status": status})


def assert_same_user(a: dict, b: dict) -> None:
    assert set(a) == USER_KEYS and set(b) == USER_KEYS, (a, b)
    for key in ("id", "email", "name"):
        assert a[key] == b[key], (key, a, b)
    for key in ("created_at", "updated_at"):
        assert instant(a[key]) == instant(b[key]), (key, a, b)


def assert_problem(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    assert resp.json()["status"] == status


# First in this module on purpose: the script made orders and moved one
# through the legacy service before the adoption, so its pooled connection
# holds prepared statements from the old schema. asyncpg re-prepares a stale
# statement by itself only outside a transaction; inside one (creating an
# order, moving one) an adoption that changed a result column's type
# (int -> bigint, varchar -> text) makes the first such request a 500.
async def test_legacy_transactions_keep_working_across_adoption(legacy, orderly):
    user = await create_user(orderly)  # through orderly: a legacy statement now would reset its cache
    order = await create_order(legacy, user["id"])
    moved = await move(legacy, order["id"], "paid", method="PATCH")
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "paid"


@pytest.mark.parametrize("writes_through", ["legacy", "orderly"])
async def test_a_user_made_by_one_reads_the_same_through_the_other(writes_through, legacy, orderly):
    writer, reader = (legacy, orderly) if writes_through == "legacy" else (orderly, legacy)
    name = f"Renamed By {writes_through}"
    made = await create_user(writer)
    patched = await writer.patch(f"/api/v1/users/{made['id']}", json={"name": name})
    assert patched.status_code == 200, patched.text
    assert instant(patched.json()["updated_at"]) > instant(made["updated_at"])

    read = await reader.get(f"/api/v1/users/{made['id']}")
    assert read.status_code == 200, read.text
    assert_same_user(read.json(), patched.json())
    assert read.json()["name"] == name


async def _race(legacy, orderly, legacy_email: str, orderly_email: str) -> None:
    results = await asyncio.gather(
        legacy.post("/api/v1/users", json={"email": legacy_email, "name": "Racer"}),
        orderly.post("/api/v1/users", json={"email": orderly_email, "name": "Racer"}),
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409], [(r.status_code, r.text) for r in results]
    assert_problem(next(r for r in results if r.status_code == 409), 409)
    winner = next(r for r in results if r.status_code == 201).json()
    for client in (legacy, orderly):
        read = await client.get(f"/api/v1/users/{winner['id']}")
        assert read.status_code == 200 and read.json()["email"] == winner["email"], read.text


async def test_same_email_through_both_at_once_makes_one_user(legacy, orderly, db):
    for _ in range(20):
        email = fresh_email("race")
        await _race(legacy, orderly, email, email)
        assert await db.fetchval("SELECT count(*) FROM users WHERE lower(email) = lower($1)", email) == 1


async def test_case_variants_through_both_are_one_user(legacy, orderly, db):
    for round_ in range(10):
        local = f"ann-{uuid.uuid4().hex[:12]}"
        upper, lower = f"{local.capitalize()}@Example.com", f"{local}@example.com"
        await _race(legacy, orderly, *((upper, lower) if round_ % 2 else (lower, upper)))
        assert await db.fetchval("SELECT count(*) FROM users WHERE lower(email) = $1", lower) == 1

    # Not racing: each service refuses the other's user under another case,
    # the legacy one on create and on update (its own UNIQUE is case-sensitive).
    local = f"bob-{uuid.uuid4().hex[:12]}"
    await create_user(orderly, f"{local}@example.com")
    resp = await legacy.post("/api/v1/users", json={"email": f"{local.upper()}@EXAMPLE.COM", "name": "Bob"})
    assert_problem(resp, 409)
    other = await create_user(legacy)
    resp = await legacy.patch(f"/api/v1/users/{other['id']}", json={"email": f"{local.capitalize()}@example.com"})
    assert_problem(resp, 409)
    await create_user(legacy, f"{local}-2@example.com")
    resp = await orderly.post("/api/v1/users", json={"email": f"{local.upper()}-2@example.com", "name": "Bob"})
    assert_problem(resp, 409)


async def test_order_made_by_legacy_is_read_and_moved_by_orderly(legacy, orderly):
    user = await create_user(legacy)
    made = await create_order(legacy, user["id"])
    assert made["total"] == 2 * 1250 + 3 * 99

    read = await orderly.get(f"/api/v1/orders/{made['id']}")
    assert read.status_code == 200, read.text
    order = read.json()
    assert set(order) == ORDER_KEYS, order
    assert order["items"] == ITEMS
    assert (order["user_id"], order["total"], order["currency"], order["status"]) == (user["id"], 2797, "USD", "pending")
    assert instant(order["created_at"]) == instant(made["created_at"])

    paid = await move(orderly, made["id"], "paid")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"

    seen = await legacy.get(f"/api/v1/orders/{made['id']}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["status"] == "paid"
    assert seen.json()["items"] == ITEMS
    assert instant(seen.json()["updated_at"]) == instant(paid.json()["updated_at"])

    # Back the other way, and the one state machine refuses on both sides.
    shipped = await move(legacy, made["id"], "shipped", method="PATCH")
    assert shipped.status_code == 200, shipped.text
    assert (await orderly.get(f"/api/v1/orders/{made['id']}")).json()["status"] == "shipped"
    assert_problem(await move(orderly, made["id"], "paid"), 409)
    assert_problem(await move(legacy, made["id"], "cancelled"), 409)
    assert_problem(await move(orderly, made["id"], "shipped"), 409)


async def test_order_made_by_orderly_is_read_by_legacy(legacy, orderly):
    user = await create_user(orderly)
    made = await create_order(orderly, user["id"])
    read = await legacy.get(f"/api/v1/orders/{made['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["items"] == ITEMS
    assert (read.json()["user_id"], read.json()["total"]) == (user["id"], 2797)


async def test_both_refuse_an_order_for_an_unknown_user(legacy, orderly, db):
    before = await db.fetchval("SELECT count(*) FROM orders")
    body = {"user_id": 987654321, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}
    for client in (legacy, orderly):
        resp = await client.post("/api/v1/orders", json=body)
        assert_problem(resp, 422)
        assert [e["field"] for e in resp.json()["errors"]] == ["user_id"]
    assert await db.fetchval("SELECT count(*) FROM orders") == before


async def test_ids_come_from_one_sequence(legacy, orderly):
    clients = [legacy, orderly] * 4
    user_ids = [(await create_user(c))["id"] for c in clients]
    assert len(set(user_ids)) == len(user_ids), user_ids
    assert user_ids == sorted(user_ids), user_ids

    order_ids = [(await create_order(c, user_ids[0]))["id"] for c in clients]
    assert len(set(order_ids)) == len(order_ids), order_ids
    assert order_ids == sorted(order_ids), order_ids

    # Each id reads back as the one its maker returned, through the other service.
    for client, user_id in zip(clients, user_ids):
        other = orderly if client is legacy else legacy
        assert (await other.get(f"/api/v1/users/{user_id}")).status_code == 200


async def test_orderly_refuses_to_delete_a_user_with_a_legacy_order(legacy, orderly, db):
    user = await create_user(legacy)
    order = await create_order(legacy, user["id"])

    assert_problem(await orderly.delete(f"/api/v1/users/{user['id']}"), 409)

    assert (await orderly.get(f"/api/v1/users/{user['id']}")).status_code == 200
    still = await legacy.get(f"/api/v1/orders/{order['id']}")
    assert still.status_code == 200 and still.json()["items"] == ITEMS, still.text
    assert await db.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", user["id"]) == 1
    assert await db.fetchval("SELECT count(*) FROM order_items WHERE order_id = $1", order["id"]) == 2

    # And the other way round: the legacy service refuses an orderly order's user.
    other = await create_user(orderly)
    await create_order(orderly, other["id"])
    assert_problem(await legacy.delete(f"/api/v1/users/{other['id']}"), 409)
