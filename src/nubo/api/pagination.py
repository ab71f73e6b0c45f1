"""Listing helpers: filters, sorting and limit/marker pagination with next links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Boolean, Select, and_, false, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from nubo.api.validation import parse_bool, parse_int
from nubo.errors import BadRequest, NotFound

Column = InstrumentedAttribute[Any]

# Keystone-style string filter operators: name__contains=foo
_OPERATORS = (
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "equals",
    "iequals",
)


@dataclass
class Page:
    limit: int | None
    marker: str | None
    sort: list[tuple[str, str]]


def page_params(
    query: Mapping[str, str],
    sort_keys: Sequence[str],
    default_sort: str,
    max_limit: int = 1000,
) -> Page:
    """Read ``limit``, ``marker``, ``sort_key`` and ``sort_dir`` from the query."""
    limit = None
    if "limit" in query:
        limit = min(parse_int(query["limit"], "limit", minimum=0), max_limit)
    keys = [k for k in query.get("sort_key", default_sort).split(",") if k]
    dirs = [d for d in query.get("sort_dir", "asc").split(",") if d]
    sort: list[tuple[str, str]] = []
    for i, key in enumerate(keys):
        if key not in sort_keys:
            raise BadRequest(f"Invalid sort_key '{key}': allowed keys are {', '.join(sort_keys)}.")
        direction = (dirs[i] if i < len(dirs) else dirs[-1] if dirs else "asc").lower()
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir '{direction}': use asc or desc.")
        sort.append((key, direction))
    return Page(limit, query.get("marker") or None, sort)


def apply_filters(
    stmt: Select[Any], query: Mapping[str, str], columns: Mapping[str, Column]
) -> Select[Any]:
    """Exact-match filters, plus ``field__contains`` style string operators; boolean
    columns take the usual true/false spellings (anything else is a 400)."""
    for param, value in query.items():
        name, _, op = param.partition("__")
        column = columns.get(name)
        if column is None or (op and op not in _OPERATORS):
            continue
        if isinstance(column.type, Boolean):
            stmt = stmt.where(column == parse_bool(value, param))
            continue
        if not op or op == "equals":
            stmt = stmt.where(column == value)
        elif op == "iequals":
            stmt = stmt.where(column.ilike(_escape(value), escape="\\"))
        else:
            insensitive = op.startswith("i")
            pattern = _escape(value)
            base = op.lstrip("i")
            pattern = {
                "contains": f"%{pattern}%",
                "startswith": f"{pattern}%",
                "endswith": f"%{pattern}",
            }[base]
            like = column.ilike if insensitive else column.like
            stmt = stmt.where(like(pattern, escape="\\"))
    return stmt


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def paginate(
    session: Session,
    stmt: Select[Any],
    model: Any,
    page: Page,
    id_column: str = "id",
) -> Select[Any]:
    """Order ``stmt`` by the page's sort keys (plus id) and start after the marker."""
    order = [*page.sort, (id_column, page.sort[-1][1] if page.sort else "asc")]
    order = [o for i, o in enumerate(order) if o[0] not in [x[0] for x in order[:i]]]
    cols = [getattr(model, k) for k, _ in order]
    stmt = stmt.order_by(
        *[c.desc() if d == "desc" else c.asc() for c, (_, d) in zip(cols, order, strict=False)]
    )
    if page.marker:
        marker = session.get(model, page.marker)
        if marker is None:
            raise NotFound(f"Marker {page.marker} could not be found.")
        values = [getattr(marker, k) for k, _ in order]
        clauses = []
        for i, (col, (_, direction)) in enumerate(zip(cols, order, strict=False)):
            equal = [cols[j] == values[j] for j in range(i)]
            value = values[i]
            if value is None:
                step = col.isnot(None) if direction == "asc" else false()
            else:
                step = col > value if direction == "asc" else col < value
            clauses.append(and_(*equal, step))
        stmt = stmt.where(or_(*clauses))
    if page.limit is not None:
        stmt = stmt.limit(page.limit)
    return stmt


def next_link(
    url: str, query: Sequence[tuple[str, str]], page: Page, items: Sequence[Any], id_key: str = "id"
) -> str | None:
    """The ``next`` link when the page came back full."""
    if page.limit is None or not items or len(items) < page.limit:
        return None
    last = items[-1]
    marker = last[id_key] if isinstance(last, Mapping) else getattr(last, id_key)
    params = [(k, v) for k, v in query if k != "marker"] + [("marker", str(marker))]
    return f"{url}?{urlencode(params)}"
