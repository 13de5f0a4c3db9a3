"""The seed's user lifecycle (test_user_flow), spoken only through the Python
client that openapi-python-client generated from orderly's /openapi.json.

    python client_lifecycle.py BASE_URL PACKAGE_NAME

PACKAGE_NAME must be importable (scripts/suite/api-checks.sh puts the generated
package on PYTHONPATH). Operations are found by method and path template in
the generated modules, so the checks do not depend on operationIds or tags;
the mapping found is printed, with a note where it differs from the plan.
Every request goes through the generated functions; the client raises on a
status the document does not declare, so an undeclared 404 fails here too.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
import typing
import uuid

# (method, path) -> the operationId planned for it (informational only).
PLANNED = {
    ("POST", "/api/v1/users"): "create_user",
    ("GET", "/api/v1/users/{}"): "get_user",
    ("PUT", "/api/v1/users/{}"): "replace_user",
    ("PATCH", "/api/v1/users/{}"): "update_user",
    ("DELETE", "/api/v1/users/{}"): "delete_user",
    ("GET", "/api/v1/users"): "list_users",
}

KWARGS = re.compile(r'"method":\s*"(\w+)",\s*"url":\s*"([^"]+)"')


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def operations(package: str) -> dict[tuple[str, str], typing.Any]:
    """(METHOD, path with every {param} as {}) -> generated module."""
    api = importlib.import_module(f"{package}.api")
    found = {}
    for info in pkgutil.walk_packages(api.__path__, prefix=f"{package}.api."):
        if info.ispkg:
            continue
        module = importlib.import_module(info.name)
        match = KWARGS.search(inspect.getsource(module._get_kwargs))
        if match:
            path = re.sub(r"\{[^}]*\}", "{}", match.group(2))
            found[(match.group(1).upper(), path)] = module
    return found


def call(module, *args, **kwargs):
    response = module.sync_detailed(*args, **kwargs)
    return int(response.status_code), response.parsed, response


def body_of(module, data: dict):
    """The generated model for an operation's request body, from a dict."""
    hints = typing.get_type_hints(module.sync_detailed)
    model = hints["body"]
    check(hasattr(model, "from_dict"), f"{module.__name__}: body type {model!r} is not a single generated model")
    return model.from_dict(data)


def path_param(module) -> str:
    """Name of the one positional (path) parameter of a generated function."""
    params = [
        p.name
        for p in inspect.signature(module.sync_detailed).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    check(len(params) == 1, f"{module.__name__}: expected one path parameter, found {params}")
    return params[0]


def is_problem(parsed, response, status: int) -> bool:
    content_type = response.headers.get("content-type", "")
    return getattr(parsed, "status", None) == status and content_type.startswith("application/problem+json")


def main() -> int:
    base_url, package = sys.argv[1], sys.argv[2]
    client_module = importlib.import_module(package)
    ops = operations(package)
    print("client: generated operations:")
    for (method, path), module in sorted(ops.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        short = module.__name__[len(package) + len(".api.") :]
        planned = PLANNED.get((method, path))
        note = "" if planned is None or short.endswith("." + planned) else f"   (planned operationId: {planned})"
        print(f"  {method:6} {path:28} {short}{note}")
    missing = [f"{m} {p}" for (m, p) in PLANNED if (m, p) not in ops]
    check(not missing, f"no generated function for: {', '.join(missing)}")

    create, get, patch, put, delete, listing = (ops[k] for k in PLANNED)
    # The service runs with an API key (api-checks.sh made it).
    client = client_module.AuthenticatedClient(
        base_url=base_url, token=os.environ["ORDERLY_API_KEY"], raise_on_unexpected_status=True, timeout=10.0
    )
    email = f"lifecycle-{uuid.uuid4().hex[:12]}@example.com"
    with client:
        # Create -> 201
        status, user, _ = call(create, client=client, body=body_of(create, {"email": email, "name": "Lifecycle User"}))
        check(status == 201, f"create: status {status}, expected 201 ({user!r})")
        check(user.email == email and user.name == "Lifecycle User", f"create: returned {user!r}")
        user_id = user.id
        check(isinstance(user_id, int) and user_id > 0, f"create: id {user_id!r}")
        print(f"client: created user {user_id}")

        # Read -> 200, the same fields
        status, got, _ = call(get, **{path_param(get): user_id}, client=client)
        check(status == 200, f"get: status {status}, expected 200")
        check(got.to_dict() == user.to_dict(), f"get: {got.to_dict()} != created {user.to_dict()}")

        # Update (PATCH) -> 200, the new name, email kept
        status, patched, _ = call(patch, **{path_param(patch): user_id}, client=client, body=body_of(patch, {"name": "Updated Name"}))
        check(status == 200, f"patch: status {status}, expected 200")
        check(patched.name == "Updated Name" and patched.email == email, f"patch: returned {patched!r}")
        check(patched.updated_at >= user.updated_at, "patch: updated_at went back")

        # Update (PUT, as the seed does) -> 200, the new name
        status, put_user, _ = call(put, **{path_param(put): user_id}, client=client, body=body_of(put, {"name": "Replaced Name"}))
        check(status == 200, f"put: status {status}, expected 200")
        check(put_user.name == "Replaced Name" and put_user.email == email, f"put: returned {put_user!r}")

        # List with the email filter (in another letter case) -> finds it
        status, page, _ = call(listing, client=client, email=email.upper(), limit=10)
        check(status == 200, f"list: status {status}, expected 200")
        ids = [item.id for item in page.items]
        check(ids == [user_id], f"list ?email={email.upper()}: ids {ids}, expected [{user_id}]")
        check(not page.next_cursor, f"list: next_cursor {page.next_cursor!r}, expected null")

        # Delete -> 204
        status, _, response = call(delete, **{path_param(delete): user_id}, client=client)
        check(status == 204, f"delete: status {status}, expected 204")
        check(response.content == b"", f"delete: body {response.content!r}, expected empty")

        # Read again -> 404 problem+json
        status, problem, response = call(get, **{path_param(get): user_id}, client=client)
        check(status == 404, f"get after delete: status {status}, expected 404")
        check(is_problem(problem, response, 404), f"get after delete: not a 404 problem+json: {response.headers.get('content-type')} {response.content[:200]!r}")
    print("client: lifecycle passed (create 201, get, patch, put, list by email, delete 204, get 404)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as failure:
        print(f"client: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # e.g. errors.UnexpectedStatus: a status the document does not declare
        print(f"client: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
