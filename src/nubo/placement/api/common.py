"""What every placement handler shares: the router, microversions, the service object,
body and query validation, links, cache headers, and the query syntaxes of
``resources``, ``required`` and ``member_of``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from email.utils import format_datetime
from typing import Any

from nubo.api.microversions import Version, VersionRange
from nubo.api.routing import ApiRequest, Reply, Router
from nubo.api.validation import Schema, validate
from nubo.db.base import utcnow
from nubo.errors import BadRequest, NotFound
from nubo.placement import codes
from nubo.placement.candidates import AggregateFilter, TraitFilter
from nubo.placement.providers import parse_uuid
from nubo.placement.service import PlacementService
from nubo.placement.standards import NAME_RE

router = Router()

MAX_VERSION = Version(1, 39)
VERSIONS = VersionRange("placement", Version(1, 0), MAX_VERSION)

UUID_PATTERN = "^[0-9a-fA-F-]{32,36}$"
RC_PATTERN = "^[A-Z0-9_]+$"


def placement(req: ApiRequest) -> PlacementService:
    svc: PlacementService = req.app.state["placement"]
    return svc


def require(req: ApiRequest, version: str) -> None:
    """A route added in ``version`` does not exist for older requests."""
    if not req.at_least(version):
        raise NotFound("The resource could not be found.")


def body(req: ApiRequest, schema: Schema) -> Any:
    data = req.json()
    validate(data, schema)
    return data


def check_query(req: ApiRequest, allowed: Iterable[str], repeatable: Iterable[str] = ()) -> None:
    """400 for parameters the route (at this microversion) does not know, and for a
    parameter given twice that may appear only once."""
    known = set(allowed)
    many = set(repeatable)
    seen: set[str] = set()
    for key, _value in req.query_items:
        if key not in known:
            raise BadRequest(
                "Invalid query string parameters: Additional properties are not allowed "
                f"('{key}' was unexpected)"
            )
        if key in seen and key not in many:
            raise BadRequest(
                f"Query parameter {key!r} may be given only once.", kind=codes.QUERY_DUPLICATE_KEY
            )
        seen.add(key)


def link(req: ApiRequest, path: str) -> str:
    """A link as upstream writes them: the path under the service's prefix."""
    return req.service.prefix + path


def http_date(when: dt.datetime | None) -> str:
    return format_datetime((when or utcnow()).astimezone(dt.UTC), usegmt=True)


def reply(
    req: ApiRequest,
    data: Any,
    status: int = 200,
    *,
    modified: dt.datetime | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A JSON reply; from 1.15 a GET also says when its data last changed and that it
    must not be cached."""
    out = dict(headers or {})
    if req.method in ("GET", "HEAD") and req.at_least("1.15"):
        out["last-modified"] = http_date(modified)
        out["cache-control"] = "no-cache"
    return Reply(status, data, out)


def latest(*times: dt.datetime | None) -> dt.datetime | None:
    found = [t for t in times if t is not None]
    return max(found) if found else None


# -- query syntaxes ---------------------------------------------------------------------


def parse_resources(text: str, name: str = "resources") -> dict[str, int]:
    """``VCPU:2,MEMORY_MB:1024`` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    found: dict[str, int] = {}
    for part in text.split(","):
        rc, sep, amount = part.strip().partition(":")
        rc = rc.strip()
        try:
            number = int(amount.strip())
        except ValueError:
            number = -1
        if not sep or not rc or number < 0 or not NAME_RE.match(rc):
            raise BadRequest(
                f"Badly formed {name} parameter. Expected {name} query string parameter "
                f"in form: ?{name}=VCPU:2,MEMORY_MB:1024. Got: {text}.",
                kind=codes.QUERY_BAD_VALUE,
            )
        if number < 1:
            raise BadRequest(
                f"Requested resource {rc} expected positive integer amount. Got: {number}.",
                kind=codes.QUERY_BAD_VALUE,
            )
        if rc in found:
            raise BadRequest(
                f"Badly formed {name} parameter: {rc} is given twice. Got: {text}.",
                kind=codes.QUERY_BAD_VALUE,
            )
        found[rc] = number
    return found


def _uuids(text: str, name: str) -> frozenset[str]:
    try:
        return frozenset(parse_uuid(u.strip()) for u in text.split(","))
    except BadRequest:
        raise BadRequest(
            f"Invalid query string parameters: Expected '{name}' parameter to contain valid "
            f"UUID(s). Got: {text}",
            kind=codes.QUERY_BAD_VALUE,
        ) from None


def parse_member_of(req: ApiRequest, values: list[str], name: str = "member_of") -> AggregateFilter:
    """``member_of`` values: ``<uuid>``, ``in:<uuid>,<uuid>`` (any of); from 1.32 also
    ``!<uuid>`` and ``!in:...`` (none of)."""
    found = AggregateFilter()
    for value in values:
        text = value.strip()
        if text.startswith("!"):
            if not req.at_least("1.32"):
                raise BadRequest(
                    f"Invalid query string parameters: Expected '{name}' parameter to contain "
                    f"valid UUID(s). Got: {value}",
                    kind=codes.QUERY_BAD_VALUE,
                )
            text = text[1:]
            if text.startswith("in:"):
                found.forbidden |= _uuids(text[3:], name)
            elif "," in text:
                raise BadRequest(
                    f"Invalid query string parameters: Expected '{name}' parameter to contain "
                    f"only one forbidden aggregate or use 'in:'. Got: {value}",
                    kind=codes.QUERY_BAD_VALUE,
                )
            else:
                found.forbidden |= _uuids(text, name)
            continue
        if text.startswith("in:"):
            text = text[3:]
        if "!" in text:
            raise BadRequest(
                f"Invalid query string parameters: Expected '{name}' parameter to contain "
                f"valid UUID(s). Got: {value}",
                kind=codes.QUERY_BAD_VALUE,
            )
        found.member_of.append(_uuids(text, name))
    return found


def parse_required(req: ApiRequest, values: list[str], name: str = "required") -> TraitFilter:
    """``required`` values: ``A,B`` (all); from 1.22 ``!C`` (forbidden); from 1.39
    ``in:A,B`` (any of)."""
    found = TraitFilter()
    for value in values:
        text = value.strip()
        if text.startswith("in:"):
            if not req.at_least("1.39"):
                raise BadRequest(
                    f"Invalid query string parameters: the 'in:' prefix of '{name}' needs "
                    f"microversion 1.39. Got: {value}",
                    kind=codes.QUERY_BAD_VALUE,
                )
            names = [t.strip() for t in text[3:].split(",")]
            if not all(NAME_RE.match(t) for t in names):
                raise _bad_traits(name, value)
            found.required.append(frozenset(names))
            continue
        for trait in text.split(","):
            trait = trait.strip()
            forbidden = trait.startswith("!")
            bare = trait[1:] if forbidden else trait
            if not NAME_RE.match(bare) or (forbidden and not req.at_least("1.22")):
                raise _bad_traits(name, value)
            if forbidden:
                found.forbidden.add(bare)
            else:
                found.required.append(frozenset([bare]))
    both = {t for group in found.required if len(group) == 1 for t in group} & found.forbidden
    if both:
        raise BadRequest(
            f"Conflicting required and forbidden traits found in the following traits "
            f"keys: {', '.join(sorted(both))}",
            kind=codes.QUERY_BAD_VALUE,
        )
    return found


def _bad_traits(name: str, value: str) -> BadRequest:
    return BadRequest(
        f"Invalid query string parameters: Expected '{name}' parameter value of the form: "
        f"HW_CPU_X86_VMX,!CUSTOM_MAGIC. Got: {value}",
        kind=codes.QUERY_BAD_VALUE,
    )
