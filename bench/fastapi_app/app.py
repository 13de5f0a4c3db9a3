"""The stack users run today, for comparison: a minimal FastAPI + asyncpg +
uvicorn implementation of exactly the six benchmarked endpoints, written the
way such services usually are (asyncpg pool, orjson, uvloop, httptools).

Run: DATABASE_URL=postgres://... uvicorn app:app --workers N --loop uvloop --http httptools
"""

import base64
import os
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel, ConfigDict, Field

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_app):
    global pool
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=4, max_size=int(os.environ.get("POOL_SIZE", "10"))
    )
    yield
    await pool.close()


app = FastAPI(default_response_class=ORJSONResponse, lifespan=lifespan)

USER_COLUMNS = "id, email, name, created_at, updated_at"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserIn(Strict):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)


class UserPatch(Strict):
    email: str | None = Field(default=None, min_length=3, max_length=254)
    name: str | None = Field(default=None, min_length=1, max_length=200)


class Item(Strict):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    unit_price: int = Field(ge=0, le=100_000_000)


class OrderIn(Strict):
    user_id: int
    currency: str = "USD"
    items: list[Item] = Field(min_length=1, max_length=100)


def ts(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def user_json(row) -> dict:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "created_at": ts(row["created_at"]),
        "updated_at": ts(row["updated_at"]),
    }


@app.get("/api/v1/users/{user_id}")
async def get_user(user_id: int):
    row = await pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise HTTPException(404)
    return user_json(row)


@app.post("/api/v1/users", status_code=201)
async def create_user(body: UserIn, response: Response):
    try:
        row = await pool.fetchrow(
            f"INSERT INTO users (email, name) VALUES ($1, $2) RETURNING {USER_COLUMNS}",
            body.email.strip(),
            body.name.strip(),
        )
    except asyncpg.UniqueViolationError:
        raise HTTPException(409)
    response.headers["Location"] = f"/api/v1/users/{row['id']}"
    return user_json(row)


@app.put("/api/v1/users/{user_id}")
async def update_user(user_id: int, body: UserPatch):
    row = await pool.fetchrow(
        f"""UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name), updated_at = now()
            WHERE id = $1 RETURNING {USER_COLUMNS}""",
        user_id,
        body.email,
        body.name,
    )
    if row is None:
        raise HTTPException(404)
    return user_json(row)


@app.get("/api/v1/users")
async def list_users(limit: int = 50, after: str | None = None):
    after_id = 0
    if after:
        after_id = int(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()[3:])
    rows = await pool.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more:
        cursor = base64.urlsafe_b64encode(f"id:{rows[-1]['id']}".encode()).decode().rstrip("=")
    return {"items": [user_json(r) for r in rows], "next_cursor": cursor}


def order_json(order, items) -> dict:
    return {
        "id": order["id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "currency": order["currency"],
        "items": [dict(sku=i["sku"], quantity=i["quantity"], unit_price=i["unit_price"]) for i in items],
        "total": order["total"],
        "created_at": ts(order["created_at"]),
        "updated_at": ts(order["updated_at"]),
    }


@app.post("/api/v1/orders", status_code=201)
async def create_order(body: OrderIn, response: Response):
    total = sum(i.quantity * i.unit_price for i in body.items)
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                order = await conn.fetchrow(
                    """INSERT INTO orders (user_id, total, currency) VALUES ($1, $2, $3)
                       RETURNING id, user_id, status, currency, total, created_at, updated_at""",
                    body.user_id,
                    total,
                    body.currency,
                )
                await conn.executemany(
                    "INSERT INTO order_items (order_id, line, sku, quantity, unit_price) VALUES ($1, $2, $3, $4, $5)",
                    [(order["id"], n, i.sku, i.quantity, i.unit_price) for n, i in enumerate(body.items)],
                )
        except asyncpg.ForeignKeyViolationError:
            raise HTTPException(422)
    response.headers["Location"] = f"/api/v1/orders/{order['id']}"
    return order_json(order, [i.model_dump() for i in body.items])


@app.get("/api/v1/orders/{order_id}")
async def get_order(order_id: int):
    async with pool.acquire() as conn:
        order = await conn.fetchrow(
            "SELECT id, user_id, status, currency, total, created_at, updated_at FROM orders WHERE id = $1",
            order_id,
        )
        if order is None:
            raise HTTPException(404)
        items = await conn.fetch(
            "SELECT sku, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY line", order_id
        )
    return order_json(order, items)
