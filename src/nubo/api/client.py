"""Calls from one nubo service to another over HTTP, on behalf of the caller.

Co-located services call each other's service layer directly; this client is for
services running in another process (``nubo api`` replicas, remote agents). It
carries the user's token and the request id, so the callee authorises the same
user and its log lines join the caller's.
"""

from __future__ import annotations

from typing import Any

import httpx

from nubo.api.context import RequestContext


class ServiceClient:
    """An httpx client bound to one request context."""

    def __init__(
        self,
        base_url: str,
        ctx: RequestContext,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"x-openstack-request-id": ctx.request_id}
        if ctx.token:
            headers["x-auth-token"] = ctx.token
        self._client = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, path, **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
