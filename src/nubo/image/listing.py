"""``GET /v2/images``: which images a caller sees, Glance's filters, sorting and
limit/marker pagination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from nubo.api.validation import parse_bool, parse_timestamp
from nubo.errors import BadRequest
from nubo.image.access import Caller, shared_with
from nubo.image.models import Image, ImageTag
from nubo.image.schemas import MEMBER_STATUSES, VISIBILITIES

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "virtual_size",
    "id",
    "created_at",
    "updated_at",
    "min_disk",
    "min_ram",
    "owner",
    "visibility",
    "os_hidden",
    "protected",
)
# query parameters that are not filters on image fields
_CONTROL = {"limit", "marker", "sort_key", "sort_dir", "sort", "member_status", "tag"}
_EXACT = ("name", "status", "owner", "disk_format", "container_format", "id")
_BOOLS = ("protected", "os_hidden")
_TIMES = ("created_at", "updated_at")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


@dataclass
class Query:
    """A parsed image-list request."""

    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    visibility: str | None = None
    member_status: str = "accepted"
    tags: list[str] = field(default_factory=list)
    tests: list[Callable[[Image, dict[str, Any]], bool]] = field(default_factory=list)
    os_hidden: bool | None = False


def parse(items: Sequence[tuple[str, str]]) -> Query:
    """Turn the query string into a Query; anything malformed is a 400 naming it."""
    q = Query()
    params = dict(items)
    if "limit" in params:
        try:
            q.limit = int(params["limit"])
        except ValueError as exc:
            raise BadRequest("limit param must be an integer") from exc
        if q.limit < 0:
            raise BadRequest("limit param must be positive")
    q.limit = min(q.limit, MAX_LIMIT)
    q.marker = params.get("marker") or None
    q.sort = _sort(items)
    member_status = params.get("member_status", "accepted")
    if member_status not in (*MEMBER_STATUSES, "all"):
        raise BadRequest(f"Invalid status value: {member_status}")
    q.member_status = member_status
    visibility = params.get("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    q.visibility = visibility
    q.tags = [v for k, v in items if k == "tag"]
    for key, value in params.items():
        if key in _CONTROL or key == "visibility":
            continue
        if key == "os_hidden":
            q.os_hidden = parse_bool(value, key)
        else:
            q.tests.append(_test(key, value))
    return q


def _sort(items: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [v for k, v in items if k == "sort_key"]
    dirs = [v for k, v in items if k == "sort_dir"]
    combined = [v for k, v in items if k == "sort"]
    if combined and (keys or dirs):
        raise BadRequest("The sort param cannot be combined with sort_key or sort_dir.")
    pairs: list[tuple[str, str]] = []
    if combined:
        for part in ",".join(combined).split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
        for i, key in enumerate(keys):
            pairs.append((key, dirs[i] if i < len(dirs) else (dirs[0] if dirs else "desc")))
        if not keys and dirs:
            pairs.append(("created_at", dirs[0]))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            allowed = ", ".join(SORT_KEYS)
            raise BadRequest(f"Invalid sort key: {key}. It should be one of {allowed}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return pairs or [("created_at", "desc")]


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"Invalid value for {key}: {value!r} is not an integer.") from exc


def _in_list(value: str) -> list[str]:
    """``in:a,b,"c,d"``: comma-separated values, double quotes protect commas."""
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise BadRequest(f"Invalid filter value {value}. The quote is not closed.")
    values.append("".join(current))
    return values


def _test(key: str, value: str) -> Callable[[Image, dict[str, Any]], bool]:
    if key in ("size_min", "size_max"):
        bound = _int(key, value)
        if key == "size_min":
            return lambda img, _p: img.size is not None and img.size >= bound
        return lambda img, _p: img.size is not None and img.size <= bound
    if key in _BOOLS:
        wanted = parse_bool(value, key)
        return lambda img, _p: bool(getattr(img, key)) == wanted
    if key in _TIMES:
        op, sep, stamp = value.partition(":")
        if not sep or op not in _OPERATORS:
            raise BadRequest(
                f"Invalid filter value {value} for {key}: expected <operator>:<timestamp> "
                "with an operator of gt, gte, lt, lte, eq, neq."
            )
        when = parse_timestamp(stamp, key)
        compare = _OPERATORS[op]
        return lambda img, _p: compare(_trunc(getattr(img, key)), _trunc(when))
    if key in ("min_ram", "min_disk", "size", "virtual_size"):
        wanted_int = _int(key, value)
        return lambda img, _p: getattr(img, key) == wanted_int
    wanted_values = _in_list(value[3:]) if value.startswith("in:") else [value]
    if key in _EXACT:
        return lambda img, _p: getattr(img, key) in wanted_values
    # a custom property
    return lambda _img, props: props.get(key) in wanted_values


def _trunc(when: dt.datetime) -> dt.datetime:
    return when.replace(microsecond=0)


def candidates(caller: Caller, q: Query) -> Any:
    """The SQL query for images the caller may list with this visibility filter."""
    query = select(Image)
    mine = Image.owner == caller.project_id if caller.project_id else false()
    shared = and_(Image.visibility == "shared", Image.id.in_(shared_with(caller, q.member_status)))
    if q.visibility in (None, "all"):
        if caller.is_admin:
            visible = or_(mine, Image.visibility != "community")
            if q.visibility == "all":
                visible = or_(visible, Image.visibility == "community")
        else:
            parts = [mine, Image.visibility == "public", shared]
            if q.visibility == "all":
                parts.append(Image.visibility == "community")
            visible = or_(*parts)
        return query.where(visible)
    query = query.where(Image.visibility == q.visibility)
    if caller.is_admin or q.visibility in ("public", "community"):
        return query
    if q.visibility == "shared":
        return query.where(or_(mine, Image.id.in_(shared_with(caller, q.member_status))))
    return query.where(mine)


def select_page(s: Session, caller: Caller, q: Query) -> tuple[list[Image], dict[str, list[str]]]:
    """The page of images this query asks for, and the tags of every image on it."""
    rows = list(s.scalars(candidates(caller, q)))
    tags = tags_by_image(s, [r.id for r in rows])
    if q.tags:
        wanted = set(q.tags)
        rows = [r for r in rows if wanted <= set(tags.get(r.id, ()))]
    if q.os_hidden is not None:
        rows = [r for r in rows if bool(r.os_hidden) == q.os_hidden]
    rows = [r for r in rows if all(t(r, r.properties or {}) for t in q.tests)]
    rows = _sorted(rows, q.sort)
    if q.marker is not None:
        ids = [r.id for r in rows]
        if q.marker not in ids:
            raise BadRequest(f"Invalid marker. Image {q.marker} could not be found.")
        rows = rows[ids.index(q.marker) + 1 :]
    return rows[: q.limit], tags


def _sorted(rows: list[Image], sort: list[tuple[str, str]]) -> list[Image]:
    # stable sorts applied from the last key to the first; id breaks ties
    ordered = sorted(rows, key=lambda r: r.id, reverse=sort[0][1] == "desc")
    for key, direction in reversed(sort):
        ordered.sort(key=_sort_key(key), reverse=direction == "desc")
    return ordered


def _sort_key(name: str) -> Callable[[Image], tuple[int, Any]]:
    def value(row: Image) -> tuple[int, Any]:
        # None sorts before everything, as NULLs do in Glance's ascending order
        v = getattr(row, name)
        return (0, 0) if v is None else (1, v)

    return value


def tags_by_image(s: Session, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for tag in s.scalars(select(ImageTag).where(ImageTag.image_id.in_(chunk))):
            out.setdefault(tag.image_id, []).append(tag.value)
    return out
