"""Error bodies in each OpenStack API family's own shape.

A service names its family once; every error it raises, and every error the
framework raises on its behalf (404 route, 401, 413, 500), is rendered in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from xml.sax.saxutils import escape

from nubo.errors import NuboError

_NOVA_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "HTTPMethodNotAllowed",
    406: "HTTPNotAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "HTTPUnsupportedMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}

_S3_CODES = {
    400: "InvalidRequest",
    401: "AccessDenied",
    403: "AccessDenied",
    404: "NoSuchKey",
    405: "MethodNotAllowed",
    409: "Conflict",
    411: "MissingContentLength",
    413: "EntityTooLarge",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


class Family(Enum):
    """The error-body dialects of the OpenStack APIs."""

    KEYSTONE = "keystone"
    NOVA = "nova"
    NEUTRON = "neutron"
    GLANCE = "glance"
    S3 = "s3"
    PLACEMENT = "placement"


Rendered = tuple[bytes, str]


def _keystone(err: NuboError, request_id: str) -> Rendered:
    body = {"error": {"code": err.status, "title": err.title, "message": err.message}}
    return json.dumps(body).encode(), "application/json"


def _nova(err: NuboError, request_id: str) -> Rendered:
    key = _NOVA_KEYS.get(err.status, "computeFault")
    body = {key: {"code": err.status, "message": err.message}}
    return json.dumps(body).encode(), "application/json"


def _neutron(err: NuboError, request_id: str) -> Rendered:
    body = {"NeutronError": {"type": err.type_name, "message": err.message, "detail": ""}}
    return json.dumps(body).encode(), "application/json"


def _glance(err: NuboError, request_id: str) -> Rendered:
    # Glance's web framework answers JSON-accepting clients in this shape
    body = {"code": f"{err.status} {err.title}", "title": err.title, "message": err.message}
    return json.dumps(body).encode(), "application/json"


def _s3(err: NuboError, request_id: str) -> Rendered:
    code = err.kind or _S3_CODES.get(err.status, "InternalError")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(err.message)}</Message>"
        f"<RequestId>{escape(request_id)}</RequestId></Error>"
    )
    return body.encode(), "application/xml"


def _placement(err: NuboError, request_id: str) -> Rendered:
    # the API working group's shape; ``code`` (1.23) names the condition for clients,
    # and a refused microversion says which ones the service has
    code = (
        err.kind if err.kind and err.kind.startswith("placement.") else "placement.undefined_code"
    )
    error: dict[str, object] = {
        "status": err.status,
        "title": err.title,
        "detail": err.message,
        "code": code,
        "request_id": request_id,
    }
    for key in ("min_version", "max_version"):
        value = getattr(err, key, None)
        if value is not None:
            error[key] = str(value)
    return json.dumps({"errors": [error]}).encode(), "application/json"


RENDERERS: dict[Family, Callable[[NuboError, str], Rendered]] = {
    Family.KEYSTONE: _keystone,
    Family.NOVA: _nova,
    Family.NEUTRON: _neutron,
    Family.GLANCE: _glance,
    Family.S3: _s3,
    Family.PLACEMENT: _placement,
}


def render(family: Family, err: NuboError, request_id: str) -> Rendered:
    """Return the body and content type of ``err`` in ``family``'s shape."""
    return RENDERERS[family](err, request_id)
