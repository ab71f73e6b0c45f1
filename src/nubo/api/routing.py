"""Routing tables, the request a handler sees and the reply it returns.

A service is a ``Service`` (name, catalog type, path prefix, error family) with a
``Router`` of ``Route``s. Handlers are plain synchronous functions
``handler(req: ApiRequest) -> Reply``; the app runs them off the event loop.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.from_thread

from nubo.api.context import RequestContext
from nubo.api.faults import Family
from nubo.api.microversions import Version, VersionRange
from nubo.api.validation import Schema, parse_json, validate
from nubo.errors import BadRequest, MethodNotAllowed, NotFound, UnsupportedMediaType

if TYPE_CHECKING:
    from nubo.api.app import NuboApp

Handler = Callable[["ApiRequest"], "Reply"]
WebSocketHandler = Callable[["WebSocketRequest"], Awaitable[None]]

# {name} matches one path segment; {name:path} the rest of the path
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


@dataclass
class Reply:
    """What a handler returns: a status, a JSON-able body (or bytes) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # a body too large for memory (image data): chunks sent as they are produced;
    # the handler sets content-length itself when it knows it
    stream: Iterator[bytes] | None = None

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    policy: str | None = None
    auth: bool = True
    body: Schema | None = None
    body_optional: bool = False
    stream: bool = False  # the handler reads the body itself (req.body_chunks())
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = _compile(self.path)


def _compile(path: str) -> re.Pattern[str]:
    regex = _PARAM.sub(
        lambda m: f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)",
        re.escape(path).replace(r"\{", "{").replace(r"\}", "}"),
    )
    return re.compile(f"^{regex}$")


@dataclass
class WebSocketRoute:
    """A websocket endpoint: an async handler that owns the connection. No token
    header is checked for it (browsers cannot send one); the handler authorises."""

    path: str
    handler: WebSocketHandler
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = _compile(self.path)


class Router:
    """An ordered table of routes; the first whose path and method match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.websockets: list[WebSocketRoute] = []

    def websocket(self, path: str) -> Callable[[WebSocketHandler], WebSocketHandler]:
        """Decorator adding an async ``handler(ws: WebSocketRequest)`` for websocket
        connections to ``path``."""

        def add(handler: WebSocketHandler) -> WebSocketHandler:
            self.websockets.append(WebSocketRoute(path, handler))
            return handler

        return add

    def match_websocket(self, path: str) -> tuple[WebSocketRoute, dict[str, str]] | None:
        for route in self.websockets:
            m = route.pattern.match(path)
            if m:
                return route, m.groupdict()
        return None

    def route(
        self,
        method: str,
        path: str,
        *,
        policy: str | None = None,
        auth: bool = True,
        body: Schema | None = None,
        body_optional: bool = False,
        stream: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator adding ``handler`` for ``method path``; with ``stream`` the body is
        not read up front (no size limit) and the handler pulls it with body_chunks()."""

        def add(handler: Handler) -> Handler:
            for verb in method.split(","):
                self.routes.append(
                    Route(
                        verb.strip().upper(),
                        path,
                        handler,
                        policy,
                        auth,
                        body,
                        body_optional,
                        stream,
                    )
                )
            return handler

        return add

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """Find the route; 404 when no path matches, 405 when no method does."""
        path_matched = False
        for route in self.routes:
            m = route.pattern.match(path)
            if not m:
                continue
            path_matched = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                if method == "HEAD" and route.method == "GET":
                    # an explicit HEAD route further down wins over GET
                    explicit = self._explicit(path, "HEAD")
                    if explicit:
                        return explicit
                return route, m.groupdict()
        if path_matched:
            raise MethodNotAllowed(f"The method {method} is not allowed for this resource.")
        raise NotFound("The resource could not be found.")

    def _explicit(self, path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.pattern.match(path)
                if m:
                    return route, m.groupdict()
        return None


@dataclass
class Service:
    """One API service on the shared listener."""

    name: str  # e.g. "identity"
    type: str  # catalog service type
    prefix: str  # e.g. "/identity"
    family: Family
    router: Router
    extra_headers: Callable[[RequestContext], dict[str, str]] | None = None
    # Keystone ignores a trailing slash; Glance treats ``/v2/images/`` as an empty id
    strict_slashes: bool = False
    # microversions (Nova, Placement): negotiated before the handler runs
    versions: VersionRange | None = None


class ClientDisconnected(BadRequest):
    """The client went away in the middle of sending a body."""


class BodySource:
    """Pulls a request body from the ASGI server into a worker thread, in batches of
    about ``batch`` bytes so that a large upload costs few thread hops."""

    def __init__(self, receive: Callable[[], Awaitable[MutableMapping[str, Any]]]) -> None:
        self.receive = receive
        self.done = False

    async def _next_batch(self, batch: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while not self.done and size < batch:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected("The client closed the connection before the body ended.")
            chunk = message.get("body", b"")
            if chunk:
                parts.append(chunk)
                size += len(chunk)
            self.done = not message.get("more_body", False)
        return b"".join(parts)

    def chunks(self, batch: int = 1 << 20) -> Iterator[bytes]:
        while not self.done:
            data = anyio.from_thread.run(self._next_batch, batch)
            if data:
                yield data


class ApiRequest:
    """The request as a handler sees it."""

    def __init__(
        self,
        *,
        app: NuboApp,
        service: Service,
        route: Route,
        method: str,
        path: str,
        params: dict[str, str],
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        raw_body: bytes,
        ctx: RequestContext,
        base_url: str,
    ) -> None:
        self.app = app
        self.service = service
        self.route = route
        self.method = method
        self.path = path
        # the path as sent (below the service prefix), before trailing slashes were
        # stripped for matching (the app sets it): for the rare route where ``/x/``
        # differs from ``/x``
        self.raw_path = path
        self.params = params
        self.query_items = query
        self.headers = headers
        self.raw_body = raw_body
        self.ctx = ctx
        self.base_url = base_url
        self._body: Any = None
        self._body_read = False
        self.body_source: BodySource | None = None

    def body_chunks(self) -> Iterator[bytes]:
        """The body of a streaming route, chunk by chunk (call from the handler's thread)."""
        if self.body_source is None:
            if self.raw_body:
                yield self.raw_body
            return
        yield from self.body_source.chunks()

    @property
    def version(self) -> Version:
        """The negotiated microversion (the service's minimum when it has none)."""
        if self.ctx.microversion is not None:
            return self.ctx.microversion
        if self.service.versions is not None:
            return self.service.versions.minimum
        return Version(1, 0)

    def at_least(self, text: str) -> bool:
        """Whether the negotiated microversion is ``text`` or newer."""
        return self.version >= Version.parse(text)

    @property
    def service_url(self) -> str:
        """The service's root URL as this client reached it."""
        return self.base_url + self.service.prefix

    @property
    def url(self) -> str:
        return self.service_url + self.path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, last value wins."""
        return dict(self.query_items)

    def query_all(self, name: str) -> list[str]:
        return [v for k, v in self.query_items if k == name]

    def json(self) -> Any:
        """The body, decoded and validated against the route's schema."""
        if not self._body_read:
            self._body_read = True
            if not self.raw_body.strip() and self.route.body_optional:
                self._body = None
                return None
            ctype = self.headers.get("content-type", "application/json").split(";")[0].strip()
            if ctype and not (
                ctype == "application/json"
                or ctype.endswith("+json")
                or ctype.startswith("application/openstack")
            ):
                raise UnsupportedMediaType(
                    f"Content type {ctype} is not supported; send application/json."
                )
            body = parse_json(self.raw_body)
            if self.route.body is not None:
                validate(body, self.route.body)
            self._body = body
        return self._body

    def enforce(self, rule: str, target: Mapping[str, Any] | None = None) -> None:
        """Raise Forbidden unless the policy ``rule`` allows this caller on ``target``."""
        self.app.policy.enforce(rule, self.ctx.credentials(), self._target(target))

    def allowed(self, rule: str, target: Mapping[str, Any] | None = None) -> bool:
        return self.app.policy.allowed(rule, self.ctx.credentials(), self._target(target))

    def _target(self, target: Mapping[str, Any] | None) -> dict[str, Any]:
        """Path parameters plus the target, also reachable as ``target.*``."""
        full: dict[str, Any] = dict(self.params)
        if target:
            full.update(target)
            full["target"] = dict(target)
        return full


class WebSocketRequest:
    """A websocket connection as its handler sees it. The framework has taken the
    ``websocket.connect`` message; the handler accepts (or rejects: HTTP 403), then
    exchanges messages until one side closes."""

    def __init__(
        self,
        *,
        app: NuboApp,
        service: Service,
        path: str,
        params: dict[str, str],
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        base_url: str,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        self.app = app
        self.service = service
        self.path = path
        self.params = params
        self.query_items = query
        self.headers = headers
        self.base_url = base_url
        self.scope = scope
        self._receive = receive
        self._send = send
        self.accepted = False
        self.closed = False

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, last value wins."""
        return dict(self.query_items)

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (Sec-WebSocket-Protocol)."""
        return [str(p) for p in self.scope.get("subprotocols") or ()]

    async def accept(self, subprotocol: str | None = None) -> None:
        message: dict[str, Any] = {"type": "websocket.accept"}
        if subprotocol:
            message["subprotocol"] = subprotocol
        await self._send(message)
        self.accepted = True

    async def reject(self) -> None:
        """Refuse the handshake (before ``accept``): the client gets HTTP 403."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                await self._send({"type": "websocket.close", "code": 1008})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (a no-op once closed or gone)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):  # the client went away meanwhile
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def receive_bytes(self) -> bytes | None:
        """The next message's data (a text message as UTF-8); None once the client
        has closed the connection."""
        while True:
            message = await self._receive()
            if message["type"] == "websocket.receive":
                data = message.get("bytes")
                if data is None:
                    data = (message.get("text") or "").encode()
                return bytes(data)
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return None

    async def send_bytes(self, data: bytes) -> None:
        await self._send({"type": "websocket.send", "bytes": data})


def collection_links(req: ApiRequest, next_url: str | None = None) -> dict[str, Any]:
    """The ``links`` object Keystone-style lists carry."""
    return {"self": req.url, "previous": None, "next": next_url}


def prefixes(services: Iterable[Service]) -> list[Service]:
    """Services ordered for prefix matching, longest prefix first."""
    return sorted(services, key=lambda s: len(s.prefix), reverse=True)
