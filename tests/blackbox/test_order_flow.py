# Orders and idempotency, written the seed's way: HTTP through `client`,
# the database checked through `db_pool`.
import asyncio

import pytest


async def _create_user(client, email: str) -> int:
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Buyer"})
    assert resp.status_code == 201
    return resp.json()["id"]


@pytest.mark.asyncio
@pytest.mark.integration
async def test_order_lifecycle(client, db_pool):
    """Create an order, read it, move it to delivered; illegal moves are 409."""
    user_id = await _create_user(client, "order-flow@example.com")

    # Create
    create_resp = await client.post(
        "/api/v1/orders",
        json={"user_id": user_id, "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": 1250}]},
    )
    assert create_resp.status_code == 201
    order = create_resp.json()
    assert order["total"] == 2500
    assert order["status"] == "pending"
    assert create_resp.headers["location"] == f"/api/v1/orders/{order['id']}"

    # Read
    get_resp = await client.get(f"/api/v1/orders/{order['id']}")
    assert get_resp.status_code == 200
    assert get_resp.json()["items"] == [{"sku": "BOOK-1", "quantity": 2, "unit_price": 1250}]

    # Move along the status machine
    for status in ["paid", "shipped", "delivered"]:
        move_resp = await client.put(f"/api/v1/orders/{order['id']}", json={"status": status})
        assert move_resp.status_code == 200
        assert move_resp.json()["status"] == status

    # Illegal move
    illegal_resp = await client.put(f"/api/v1/orders/{order['id']}", json={"status": "cancelled"})
    assert illegal_resp.status_code == 409

    # Orders are never deleted
    delete_resp = await client.delete(f"/api/v1/orders/{order['id']}")
    assert delete_resp.status_code == 405

    # The user cannot be deleted while they have orders
    delete_user_resp = await client.delete(f"/api/v1/users/{user_id}")
    assert delete_user_resp.status_code == 409

    async with db_pool.acquire() as conn:
        items = await conn.fetchval("SELECT COUNT(*) FROM order_items WHERE order_id = $1", order["id"])
    assert items == 1


@pytest.mark.asyncio
@pytest.mark.integration
async def test_unknown_user_order_is_rejected_and_nothing_written(client, db_pool):
    """An order for a missing user is 422 on user_id and leaves no rows."""
    async with db_pool.acquire() as conn:
        initial_count = await conn.fetchval("SELECT COUNT(*) FROM orders")

    resp = await client.post(
        "/api/v1/orders",
        json={"user_id": 987654321, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]},
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in resp.json()["errors"]] == ["user_id"]

    async with db_pool.acquire() as conn:
        final_count = await conn.fetchval("SELECT COUNT(*) FROM orders")
    assert final_count == initial_count


@pytest.mark.asyncio
@pytest.mark.integration
async def test_idempotent_replay(client):
    """The same key and body replays the stored response."""
    body = {"email": "idempotent@example.com", "name": "Once"}
    headers = {"Idempotency-Key": "pytest-replay-1"}

    first = await client.post("/api/v1/users", json=body, headers=headers)
    second = await client.post("/api/v1/users", json=body, headers=headers)
    other = await client.post("/api/v1/users", json={**body, "name": "Twice"}, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert other.status_code == 422


@pytest.mark.asyncio
@pytest.mark.integration
async def test_concurrent_orders_with_one_key_create_one_order(client, db_pool):
    """Twenty racing POSTs with one key create exactly one order."""
    user_id = await _create_user(client, "concurrent-orders@example.com")
    body = {"user_id": user_id, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]}

    responses = await asyncio.gather(
        *[
            client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "pytest-race-1"})
            for _ in range(20)
        ]
    )

    assert {r.status_code for r in responses} <= {201, 409}
    created = [r.json() for r in responses if r.status_code == 201]
    assert len(created) >= 1
    assert all(c == created[0] for c in created)
    async with db_pool.acquire() as conn:
        orders = await conn.fetchval("SELECT COUNT(*) FROM orders WHERE user_id = $1", user_id)
    assert orders == 1
