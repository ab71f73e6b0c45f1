"""Helpers for the compute tests over raw HTTP: the microversion header, Nova's error
body, a server's body, waiting until a server settles in a status or is gone, posting a
server action, and a member of another project. The ``boot`` and ``compute_member``
fixtures (conftest.py) use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from openstack import connection

from .common import eventually
from .http_client import Http

SERVERS = "/compute/v2.1/servers"
QUOTAS = "/compute/v2.1/os-quota-sets"
# Nova's error body: {"<key>": {"code": status, "message": ...}}
ERROR_KEYS = {
    400: "badRequest",
    403: "forbidden",
    404: "itemNotFound",
    409: "conflictingRequest",
    413: "overLimit",
    501: "notImplemented",
}


def v(version: str) -> dict[str, str]:
    """The header asking for compute microversion ``version``."""
    return {"OpenStack-API-Version": f"compute {version}"}


def nova_error(
    response: httpx.Response, status: int, key: str | None = None, message: str | None = None
) -> str:
    """Assert Nova's error body (one ``key``, by default the status's usual one, with the
    status as its code and ``message`` in its message); the message."""
    assert response.status_code == status, response.text
    key = key or ERROR_KEYS[status]
    body = response.json()
    assert set(body) == {key}, body
    assert body[key]["code"] == status
    if message is not None:
        assert message in body[key]["message"], body
    return str(body[key]["message"])


def server_body(http: Http, token: str, server_id: str, version: str = "2.96") -> Any:
    """GET the server (which must be there) at ``version``; its ``server`` object."""
    r = http.get(f"{SERVERS}/{server_id}", token=token, headers=v(version))
    assert r.status_code == 200, r.text
    return r.json()["server"]


def wait_for(
    http: Http, token: str, server_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll until the server shows ``status`` with no task under way; its 2.96 body.

    Fails at once when the server goes to ERROR (unless ERROR is wanted), and at the
    timeout, with the status, task and fault last seen."""

    def settled(body: dict[str, Any]) -> bool:
        return body["status"] == status and body["OS-EXT-STS:task_state"] is None

    def failed(body: dict[str, Any]) -> bool:
        return body["status"] == "ERROR" and status != "ERROR"

    body: dict[str, Any] = eventually(
        lambda: server_body(http, token, server_id),
        lambda b: settled(b) or failed(b),
        timeout,
    )
    assert settled(body), (
        f"server {server_id} is {body['status']}/{body['OS-EXT-STS:task_state']}, "
        f"wanted {status}; fault: {body.get('fault')}"
    )
    return body


def wait_gone(http: Http, token: str, server_id: str, timeout: float = 60) -> None:
    """Poll until the server is gone (404); fails with what it still shows if not."""
    r = eventually(
        lambda: http.get(f"{SERVERS}/{server_id}", token=token, headers=v("2.96")),
        lambda r: r.status_code == 404,
        timeout,
    )
    assert r.status_code == 404, (
        f"server {server_id} was not deleted within {timeout}s: {r.status_code} {r.text}"
    )


def act(
    http: Http, token: str, server_id: str, body: dict[str, Any], version: str = "2.96"
) -> httpx.Response:
    """POST a server action (``{"os-stop": None}``, ...) at ``version``."""
    return http.post(f"{SERVERS}/{server_id}/action", token=token, json=body, headers=v(version))


def other_project(
    admin_conn: connection.Connection, unique: Callable[[str], str]
) -> connection.Connection:
    """A connection for a member of a new project (to see that it cannot reach ours)."""
    project = admin_conn.identity.create_project(name=unique("proj"), domain_id="default")
    user = admin_conn.identity.create_user(
        name=unique("user"), password="secret-pass-1", domain_id="default"
    )
    member = admin_conn.identity.find_role("member")
    admin_conn.identity.assign_project_role_to_user(project, user, member)
    return connection.Connection(
        auth_url=admin_conn.session.auth.auth_url,
        username=user.name,
        password="secret-pass-1",
        project_id=project.id,
        user_domain_id="default",
        project_domain_id="default",
    )
