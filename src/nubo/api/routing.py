"""Routing tables, the request a handler sees and the reply it returns.

A service is a ``Service`` (name, catalog type, path prefix, error family) with a
``Router`` of ``Route``s. Handlers are plain synchronous functions
``handler(req: ApiRequest) -> Reply``; the app runs them off the event loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nubo.api.context import RequestContext
from nubo.api.faults import Family
from nubo.api.validation import Schema, parse_json, validate
from nubo.errors import MethodNotAllowed, NotFound, UnsupportedMediaType

if TYPE_CHECKING:
    from nubo.api.app import NuboApp

Handler = Callable[["ApiRequest"], "Reply"]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Reply:
    """What a handler returns: a status, a JSON-able body (or bytes) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

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
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = _PARAM.sub(
            r"(?P<\1>[^/]+)", re.escape(self.path).replace(r"\{", "{").replace(r"\}", "}")
        )
        self.pattern = re.compile(f"^{regex}$")


class Router:
    """An ordered table of routes; the first whose path and method match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        policy: str | None = None,
        auth: bool = True,
        body: Schema | None = None,
        body_optional: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator adding ``handler`` for ``method path``."""

        def add(handler: Handler) -> Handler:
            for verb in method.split(","):
                self.routes.append(
                    Route(verb.strip().upper(), path, handler, policy, auth, body, body_optional)
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
        self.params = params
        self.query_items = query
        self.headers = headers
        self.raw_body = raw_body
        self.ctx = ctx
        self.base_url = base_url
        self._body: Any = None
        self._body_read = False

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


def collection_links(req: ApiRequest, next_url: str | None = None) -> dict[str, Any]:
    """The ``links`` object Keystone-style lists carry."""
    return {"self": req.url, "previous": None, "next": next_url}


def prefixes(services: Iterable[Service]) -> list[Service]:
    """Services ordered for prefix matching, longest prefix first."""
    return sorted(services, key=lambda s: len(s.prefix), reverse=True)
