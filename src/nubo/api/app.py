"""The ASGI application: one listener, every service under its path prefix.

Per request it assigns the request id, finds the service and route, validates
the token in-process, runs the handler in a worker thread, renders errors in the
service's family shape, and records an access-log line and metrics.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy.exc import DataError

from nubo.api.context import AuthInfo, RequestContext
from nubo.api.faults import Family, render
from nubo.api.metrics import Metrics
from nubo.api.policy import PolicyEngine
from nubo.api.routing import (
    ApiRequest,
    BodySource,
    Reply,
    Route,
    Router,
    Service,
    WebSocketRequest,
    prefixes,
)
from nubo.api.validation import check_header
from nubo.errors import BadRequest, NotFound, NuboError, PayloadTooLarge, Unauthorized

log = logging.getLogger(__name__)
access_log = logging.getLogger("nubo.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Authenticator(Protocol):
    """Validates a token in-process (identity provides it)."""

    def validate(self, token: str) -> AuthInfo: ...


class _Unsupported(NuboError):
    status = 500
    title = "Internal Server Error"


class NuboApp:
    """The one ASGI app serving every service."""

    def __init__(
        self,
        *,
        services: list[Service],
        policy: PolicyEngine,
        authenticator: Authenticator,
        max_body_bytes: int = 1048576,
        root: Callable[[ApiRequest], Reply] | None = None,
        access_log_enabled: bool = True,
        on_startup: list[Callable[[], None]] | None = None,
        on_shutdown: list[Callable[[], None]] | None = None,
        state: dict[str, Any] | None = None,
        trust_forwarded_headers: bool = False,
    ) -> None:
        self.services = prefixes(services)
        self.policy = policy
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self.root = root
        self.metrics = Metrics()
        self.access_log_enabled = access_log_enabled
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self.started_at = time.time()
        # service objects handlers reach through ``req.app.state`` (e.g. "identity")
        self.state: dict[str, Any] = state or {}
        self.trust_forwarded_headers = trust_forwarded_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self.on_startup:
                    await anyio.to_thread.run_sync(hook)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    await anyio.to_thread.run_sync(hook)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _find_service(self, path: str) -> tuple[Service | None, str]:
        for service in self.services:
            p = service.prefix
            if path == p or path.startswith(p + "/"):
                return service, path[len(p) :]
        return None, path

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = f"req-{uuid.uuid4()}"
        method: str = scope["method"]
        raw_path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        service, sub_path = self._find_service(raw_path)
        family = service.family if service else Family.KEYSTONE
        route_label = "unmatched"
        ctx = RequestContext(request_id=request_id)
        try:
            if raw_path == "/healthcheck":
                route_label = "/healthcheck"
                reply = Reply(200, b"OK", content_type="text/plain")
            elif raw_path == "/metrics":
                route_label = "/metrics"
                body, ctype = self.metrics.render()
                reply = Reply(200, body, content_type=ctype)
            else:
                reply, route = await self._dispatch(
                    scope, method, raw_path, service, sub_path, headers, receive, ctx
                )
                route_label = route.path if route else route_label
        except NuboError as err:
            reply = self._error_reply(family, err, request_id)
        except DataError:
            # the database refused a value the schemas let through (a NUL character,
            # longer than its column on PostgreSQL): the client's input, not our fault
            log.info("database refused a value in %s %s [%s]", method, raw_path, request_id)
            refused = BadRequest(
                "Invalid input: a value is too long or holds a character that cannot be stored."
            )
            reply = self._error_reply(family, refused, request_id)
        except Exception:
            log.exception("unhandled error in %s %s [%s]", method, raw_path, request_id)
            unexpected = _Unsupported(
                "An unexpected error prevented the server from fulfilling "
                f"your request. Request id: {request_id}"
            )
            reply = self._error_reply(family, unexpected, request_id)
        # a route that raised (401, 403, 404 ...) still counts under its own label
        route_label = scope.get("nubo.route", route_label)
        await self._send(send, reply, method, request_id, service, ctx)
        elapsed = time.perf_counter() - started
        name = service.name if service else "root"
        self.metrics.observe(name, route_label, method, reply.status, elapsed)
        if self.access_log_enabled:
            access_log.info(
                '%s "%s %s" %d %.1fms %s',
                _client(scope),
                method,
                raw_path,
                reply.status,
                elapsed * 1000,
                request_id,
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket connection: to the service route registered for its path (the
        handler authorises it itself, e.g. by a token in the query), else refused."""
        started = time.perf_counter()
        request_id = f"req-{uuid.uuid4()}"
        raw_path: str = scope["path"]
        if (await receive())["type"] != "websocket.connect":
            return
        service, sub_path = self._find_service(raw_path)
        path = sub_path if sub_path in ("", "/") else sub_path.rstrip("/")
        found = service.router.match_websocket(path) if service else None
        if service is None or found is None:
            await send({"type": "websocket.close", "code": 1008})
            self._log_websocket(scope, raw_path, 404, started, request_id)
            return
        route, params = found
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        ws = WebSocketRequest(
            app=self,
            service=service,
            path=path,
            params=params,
            query=query,
            headers=headers,
            base_url=_base_url(scope, headers, self.trust_forwarded_headers),
            scope=scope,
            receive=receive,
            send=send,
        )
        try:
            await route.handler(ws)
        except OSError:
            pass  # the client went away
        except Exception:
            log.exception("unhandled error in websocket %s [%s]", raw_path, request_id)
            if ws.accepted:
                await ws.close(1011)
            else:
                await ws.reject()
        finally:
            if not ws.closed:
                await ws.close()
        self._log_websocket(scope, raw_path, 101 if ws.accepted else 403, started, request_id)

    def _log_websocket(
        self, scope: Scope, path: str, status: int, started: float, request_id: str
    ) -> None:
        if self.access_log_enabled:
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info(
                '%s "WEBSOCKET %s" %d %.1fms %s', _client(scope), path, status, elapsed, request_id
            )

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"The request body is larger than {self.max_body_bytes} bytes.")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(
                    f"The request body is larger than {self.max_body_bytes} bytes."
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _dispatch(
        self,
        scope: Scope,
        method: str,
        raw_path: str,
        service: Service | None,
        sub_path: str,
        headers: dict[str, str],
        receive: Receive,
        ctx: RequestContext,
    ) -> tuple[Reply, Route | None]:
        if service is None:
            raw_body = await self._read_body(headers, receive)
            if raw_path in ("", "/") and self.root and method in ("GET", "HEAD"):
                root_route = Route("GET", "/", self.root, auth=False)
                req = self._request(scope, None, root_route, method, "", {}, headers, raw_body, ctx)
                return await anyio.to_thread.run_sync(self.root, req), root_route
            raise NotFound("The resource could not be found.")
        if sub_path in ("", "/"):
            path = ""
        else:
            path = sub_path if service.strict_slashes else sub_path.rstrip("/")
        route, params = service.router.match(method, path)
        scope["nubo.route"] = route.path
        if service.versions is not None:
            ctx.microversion = service.versions.negotiate(headers)
        # a streaming route reads its body itself, chunk by chunk, from the worker thread
        raw_body = b"" if route.stream else await self._read_body(headers, receive)
        req = self._request(scope, service, route, method, path, params, headers, raw_body, ctx)
        req.raw_path = sub_path
        if route.stream:
            req.body_source = BodySource(receive)
        reply = await anyio.to_thread.run_sync(self._run, req)
        return reply, route

    def _request(
        self,
        scope: Scope,
        service: Service | None,
        route: Route,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        raw_body: bytes,
        ctx: RequestContext,
    ) -> ApiRequest:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return ApiRequest(
            app=self,
            service=service or _ROOT_SERVICE,
            route=route,
            method=method,
            path=path,
            params=params,
            query=query,
            headers=headers,
            raw_body=raw_body,
            ctx=ctx,
            base_url=_base_url(scope, headers, self.trust_forwarded_headers),
        )

    def _run(self, req: ApiRequest) -> Reply:
        """Authenticate, enforce the route's policy and call the handler (worker thread)."""
        token = check_header(req.headers, "x-auth-token")
        route = req.route
        if token:
            req.ctx.token = token
            if route.auth:
                req.ctx.auth = self.authenticator.validate(token)
        elif route.auth:
            raise Unauthorized()
        if route.policy:
            req.enforce(route.policy)
        return route.handler(req)

    def _error_reply(self, family: Family, err: NuboError, request_id: str) -> Reply:
        body, ctype = render(family, err, request_id)
        headers = {}
        if err.status == 401 and family is Family.KEYSTONE:
            headers["www-authenticate"] = 'Keystone uri="/identity"'
        return Reply(err.status, body, headers, content_type=ctype)

    async def _send(
        self,
        send: Send,
        reply: Reply,
        method: str,
        request_id: str,
        service: Service | None,
        ctx: RequestContext,
    ) -> None:
        body = reply.encode()
        headers: dict[str, str] = {"x-openstack-request-id": request_id}
        if service and service.extra_headers:
            headers.update(service.extra_headers(ctx))
        if service and service.versions and ctx.microversion:
            headers.update(service.versions.response_headers(ctx.microversion))
        headers.update(reply.headers)
        if reply.body is not None or reply.status not in (204, 304):
            headers.setdefault("content-type", reply.content_type)
        if reply.status not in (204, 304) and reply.stream is None:
            headers.setdefault("content-length", str(len(body)))
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        if reply.stream is not None:
            await self._send_stream(send, reply.stream, method == "HEAD")
            return
        payload = b"" if method == "HEAD" or reply.status in (204, 304) else body
        await send({"type": "http.response.body", "body": payload})

    async def _send_stream(self, send: Send, stream: Iterator[bytes], head_only: bool) -> None:
        """Send a streamed body; each chunk is produced in a worker thread (file reads)."""
        try:
            while not head_only:
                chunk = await anyio.to_thread.run_sync(next, stream, None)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close)


_ROOT_SERVICE = Service("root", "root", "", Family.KEYSTONE, Router())


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _base_url(scope: Scope, headers: dict[str, str], trust_forwarded: bool) -> str:
    """scheme://host[:port] as the client addressed us (links are built from it); the
    X-Forwarded-* headers count only when a proxy in front is trusted to set them."""
    forwarded = headers if trust_forwarded else {}
    scheme = forwarded.get("x-forwarded-proto") or scope.get("scheme", "http")
    host = forwarded.get("x-forwarded-host") or headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
