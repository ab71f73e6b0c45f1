"""Service-to-service calls carry the caller's token and request id."""

from __future__ import annotations

import httpx

from nubo.api.client import ServiceClient
from nubo.api.context import RequestContext


def test_forwards_token_and_request_id() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json={"ok": True})

    ctx = RequestContext(request_id="req-123", token="tok")
    with ServiceClient("http://image.local", ctx, transport=httpx.MockTransport(handler)) as c:
        assert c.request("GET", "/v2/images").json() == {"ok": True}
    assert seen["x-auth-token"] == "tok"
    assert seen["x-openstack-request-id"] == "req-123"
