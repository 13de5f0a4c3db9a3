# tests/test_integration/test_user_flow.py
import pytest


@pytest.mark.asyncio
@pytest.mark.integration
async def test_user_lifecycle(client):
    """Test complete user CRUD lifecycle."""
    # Create
    create_resp = await client.post(
        "/api/v1/users",
        json={"email": "lifecycle@example.com", "name": "Lifecycle User"},
    )
    assert create_resp.status_code == 201
    user_id = create_resp.json()["id"]

    # Read
    get_resp = await client.get(f"/api/v1/users/{user_id}")
    assert get_resp.status_code == 200
    assert get_resp.json()["email"] == "lifecycle@example.com"

    # Update
    update_resp = await client.put(
        f"/api/v1/users/{user_id}",
        json={"name": "Updated Name"},
    )
    assert update_resp.status_code == 200
    assert update_resp.json()["name"] == "Updated Name"

    # Delete
    delete_resp = await client.delete(f"/api/v1/users/{user_id}")
    assert delete_resp.status_code == 204

    # Verify deleted
    verify_resp = await client.get(f"/api/v1/users/{user_id}")
    assert verify_resp.status_code == 404
