"""The legacy service that `orderly migrate --adopt` takes over: FastAPI +
asyncpg on tests/legacy/schema.sql, serving the core of the contract in
API.md for users and orders (no ETag, If-Match, idempotency or API keys),
written the usual way: pydantic models, an asyncpg pool with its default
statement cache, database errors mapped to statuses. Uniqueness is left to
the database, so an index orderly adds (lower(email)) is honoured: any
UniqueViolationError is a 409.

    DATABASE_URL=postgres://... uvicorn --app-dir tests/legacy app:app
"""

import os
import re
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException

SCHEMA_SQL = Path(__file__).with_name("schema.sql").read_text()

# The only moves API.md allows; anything else (the same state included) is 409.
TRANSITIONS = {"pending": {"paid", "cancelled"}, "paid": {"shipped", "cancelled"}, "shipped": {"delivered"}}

USER_COLUMNS = "id, email, name, created_at, updated_at"
ORDER_COLUMNS = "id, user_id, status, currency, total, created_at, updated_at"


@asynccontextmanager
async def lifespan(app: FastAPI):
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=10)
    async with pool.acquire() as conn:
        applied = False
        if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            applied = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = 1)")
        if not applied:
            await conn.execute(SCHEMA_SQL)  # one simple query: all of it or none
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(title="legacy orders", lifespan=lifespan)


# -- errors: application/problem+json ----------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None):
        self.status, self.detail, self.errors = status, detail, errors


def problem(status: int, detail: str, errors=None, headers=None) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


app.add_exception_handler(ApiError, lambda request, exc: problem(exc.status, exc.detail, exc.errors))
app.add_exception_handler(
    HTTPException, lambda request, exc: problem(exc.status_code, str(exc.detail), headers=exc.headers))
app.add_exception_handler(Exception, lambda request, exc: problem(500, "internal error"))


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError):
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(400, "the body is not valid JSON")
    if any(e["loc"][0] in ("path", "query") for e in errors):
        return problem(400, "bad path or query parameter: " + "; ".join(e["msg"] for e in errors))
    fields = [{"field": field_name(e["loc"][1:]) or "body", "message": e["msg"]} for e in errors]
    return problem(422, "the request breaks a rule", fields)


def field_name(loc) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


@app.middleware("http")
async def require_json(request: Request, call_next):
    if request.method in ("POST", "PUT", "PATCH"):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return problem(415, "the body must be application/json")
    return await call_next(request)


# -- models ------------------------------------------------------------------
Id = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Status = Literal["pending", "paid", "shipped", "delivered", "cancelled"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(Strict):
    email: Email
    name: Name


class UserPatch(Strict):
    email: Email = None  # absent: unchanged; an explicit null fails validation
    name: Name = None


class ItemIn(Strict):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    unit_price: Annotated[int, Field(strict=True, ge=0, le=100_000_000)]


class OrderIn(Strict):
    user_id: Annotated[int, Field(strict=True, ge=1)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]


class StatusIn(Strict):
    status: Status


# -- responses ---------------------------------------------------------------
def ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user_json(row) -> dict:
    return {"id": row["id"], "email": row["email"], "name": row["name"],
            "created_at": ts(row["created_at"]), "updated_at": ts(row["updated_at"])}


def order_json(row, items) -> dict:
    return {"id": row["id"], "user_id": row["user_id"], "status": row["status"], "currency": row["currency"],
            "items": [{"sku": i["sku"], "quantity": i["quantity"], "unit_price": i["unit_price"]} for i in items],
            "total": row["total"], "created_at": ts(row["created_at"]), "updated_at": ts(row["updated_at"])}


def created(body: dict, location: str) -> JSONResponse:
    return JSONResponse(body, status_code=201, headers={"Location": location})


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


# -- users -------------------------------------------------------------------
@app.post("/api/v1/users")
async def create_user(body: UserIn, request: Request):
    try:
        row = await pool_of(request).fetchrow(
            f"INSERT INTO users (email, name) VALUES ($1, $2) RETURNING {USER_COLUMNS}", body.email, body.name)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "a user with this email already exists")
    return created(user_json(row), f"/api/v1/users/{row['id']}")


@app.get("/api/v1/users")
async def list_users(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     after: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None, email: str | None = None):
    rows = await pool_of(request).fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE id > $1::bigint"
        " AND ($2::text IS NULL OR lower(email) = lower($2::text)) ORDER BY id LIMIT $3",
        int(after or 0), email, limit + 1)
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return {"items": [user_json(r) for r in rows[:limit]], "next_cursor": next_cursor}


@app.get("/api/v1/users/{user_id}")
async def get_user(user_id: Id, request: Request):
    row = await pool_of(request).fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1::bigint", user_id)
    if row is None:
        raise ApiError(404, f"no user {user_id}")
    return user_json(row)


@app.api_route("/api/v1/users/{user_id}", methods=["PUT", "PATCH"])
async def update_user(user_id: Id, body: UserPatch, request: Request):
    if not body.model_fields_set:
        raise ApiError(422, "give email or name", [{"field": "body", "message": "give email or name"}])
    try:
        row = await pool_of(request).fetchrow(
            "UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name), updated_at = now()"
            f" WHERE id = $1::bigint RETURNING {USER_COLUMNS}", user_id, body.email, body.name)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "a user with this email already exists")
    if row is None:
        raise ApiError(404, f"no user {user_id}")
    return user_json(row)


@app.delete("/api/v1/users/{user_id}", status_code=204)
async def delete_user(user_id: Id, request: Request):
    try:
        result = await pool_of(request).execute("DELETE FROM users WHERE id = $1::bigint", user_id)
    except asyncpg.ForeignKeyViolationError:
        raise ApiError(409, "the user has orders")
    if result == "DELETE 0":
        raise ApiError(404, f"no user {user_id}")
    return Response(status_code=204)


# -- orders ------------------------------------------------------------------
async def fetch_items(conn, order_id: int):
    return await conn.fetch(
        "SELECT sku, quantity, unit_price FROM order_items WHERE order_id = $1::bigint ORDER BY line", order_id)


@app.post("/api/v1/orders")
async def create_order(body: OrderIn, request: Request):
    total = sum(i.quantity * i.unit_price for i in body.items)
    async with pool_of(request).acquire() as conn:
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "INSERT INTO orders (user_id, total, currency) VALUES ($1::bigint, $2, $3)"
                    f" RETURNING {ORDER_COLUMNS}", body.user_id, total, body.currency)
                await conn.executemany(
                    "INSERT INTO order_items (order_id, line, sku, quantity, unit_price)"
                    " VALUES ($1::bigint, $2, $3, $4, $5)",
                    [(row["id"], n, i.sku, i.quantity, i.unit_price) for n, i in enumerate(body.items)])
        except (asyncpg.ForeignKeyViolationError, asyncpg.NumericValueOutOfRangeError):
            raise ApiError(422, "no such user", [{"field": "user_id", "message": "no such user"}])
    items = [i.model_dump() for i in body.items]
    return created(order_json(row, items), f"/api/v1/orders/{row['id']}")


@app.get("/api/v1/orders/{order_id}")
async def get_order(order_id: Id, request: Request):
    async with pool_of(request).acquire() as conn:
        row = await conn.fetchrow(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1::bigint", order_id)
        if row is None:
            raise ApiError(404, f"no order {order_id}")
        return order_json(row, await fetch_items(conn, order_id))


@app.api_route("/api/v1/orders/{order_id}", methods=["PUT", "PATCH"])
async def move_order(order_id: Id, body: StatusIn, request: Request):
    async with pool_of(request).acquire() as conn, conn.transaction():
        current = await conn.fetchval("SELECT status FROM orders WHERE id = $1::bigint FOR UPDATE", order_id)
        if current is None:
            raise ApiError(404, f"no order {order_id}")
        if body.status not in TRANSITIONS.get(current, set()):
            raise ApiError(409, f"an order cannot move from {current} to {body.status}")
        row = await conn.fetchrow(
            f"UPDATE orders SET status = $2, updated_at = now() WHERE id = $1::bigint RETURNING {ORDER_COLUMNS}",
            order_id, body.status)
        return order_json(row, await fetch_items(conn, order_id))
