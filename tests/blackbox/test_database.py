# The seed's "Database Integration Test" and "Transaction Rollback Test",
# verbatim; only the imports are added.
import asyncpg
import pytest


@pytest.mark.asyncio
@pytest.mark.integration
async def test_concurrent_user_creation(db_pool):
    """Test that concurrent inserts with unique constraint work correctly."""
    import asyncio

    async def create_user(email: str) -> int | None:
        try:
            async with db_pool.acquire() as conn:
                row = await conn.fetchrow(
                    "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id",
                    email,
                    "Test",
                )
                return row["id"]
        except asyncpg.UniqueViolationError:
            return None

    # Two concurrent inserts with same email
    results = await asyncio.gather(
        create_user("concurrent@example.com"),
        create_user("concurrent@example.com"),
    )

    # Exactly one should succeed
    successes = [r for r in results if r is not None]
    assert len(successes) == 1


@pytest.mark.asyncio
@pytest.mark.integration
async def test_transaction_rollback_on_error(db_pool):
    """Verify that failed transactions leave no partial state."""
    async with db_pool.acquire() as conn:
        initial_count = await conn.fetchval("SELECT COUNT(*) FROM orders")

    try:
        async with db_pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("INSERT INTO orders (user_id, total) VALUES ($1, $2)", 1, 100)
                raise ValueError("Simulated failure")
    except ValueError:
        pass

    async with db_pool.acquire() as conn:
        final_count = await conn.fetchval("SELECT COUNT(*) FROM orders")

    assert final_count == initial_count
