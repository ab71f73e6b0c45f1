"""Neutron list semantics on resource views: filters on any attribute (repeat a
parameter to match any of several values), tag filters, ``fields``, ``sort_key`` /
``sort_dir`` pairs, and ``limit``/``marker``/``page_reverse`` with
``<collection>_links``.

Lists are filtered after the service layer narrowed the rows by visibility (and by
the indexed filters it knows); doing the rest on the views keeps every attribute,
computed ones included, filterable the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from nubo.api.validation import parse_bool
from nubo.errors import BadRequest

CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "verbose"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}


def query_filters(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The filter parameters, each with all its values."""
    filters: dict[str, list[str]] = {}
    for key, value in items:
        if key in CONTROL:
            continue
        filters.setdefault(key, []).append(value)
    return filters


def _matches(value: Any, wanted: list[str], key: str) -> bool:
    if isinstance(value, bool):
        return any(parse_bool(w, key) == value for w in wanted)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, list):
        # list attributes (dns_nameservers, availability_zones ...) match on membership
        return any(w in [str(v) for v in value] for w in wanted)
    return str(value) in wanted


def _tags_match(tags: Iterable[str], filters: Mapping[str, list[str]]) -> bool:
    have = set(tags)

    def wanted(key: str) -> set[str]:
        return {t for v in filters.get(key, []) for t in v.split(",") if t}

    if "tags" in filters and not wanted("tags") <= have:
        return False
    if "tags-any" in filters and not wanted("tags-any") & have:
        return False
    if "not-tags" in filters and wanted("not-tags") and wanted("not-tags") <= have:
        return False
    return not ("not-tags-any" in filters and wanted("not-tags-any") & have)


def filter_items(
    items: Iterable[dict[str, Any]],
    filters: Mapping[str, list[str]],
    skip: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Keep the items matching every filter; unknown attributes are ignored, as Neutron
    does without the filter-validation extension."""
    skipped = set(skip)
    out = []
    for item in items:
        ok = True
        for key, wanted in filters.items():
            if key in skipped:
                continue
            if key in TAG_FILTERS:
                ok = _tags_match(item.get("tags", []), filters)
            elif key in item:
                ok = _matches(item[key], wanted, key)
            if not ok:
                break
        if ok:
            out.append(item)
    return out


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


def sort_items(
    items: list[dict[str, Any]], query: Sequence[tuple[str, str]], sortable: Iterable[str]
) -> list[dict[str, Any]]:
    keys = [v for k, v in query if k == "sort_key"]
    dirs = [v for k, v in query if k == "sort_dir"]
    if not keys:
        return items
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    directions = dirs or ["asc"] * len(keys)
    for d in directions:
        if d not in ("asc", "desc"):
            raise BadRequest(f"{d} is an invalid value for sort_dirs, valid values are asc, desc")
    if not items:
        # nothing to sort; an empty collection has no attributes to check keys against
        return items
    allowed = set(sortable)
    for key in keys:
        if key not in allowed:
            raise BadRequest(f"{key} is an invalid attribute for sort_keys")
    result = list(items)
    # stable sorts from the last key to the first
    for key, direction in reversed(list(zip(keys, directions, strict=True))):
        result.sort(key=lambda i: _sort_value(i.get(key)), reverse=direction == "desc")
    return result


def select_fields(item: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def page(
    items: list[dict[str, Any]],
    query: Sequence[tuple[str, str]],
    collection: str,
    url: str,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Apply limit/marker/page_reverse; return the page and its links."""
    params = dict(query)
    if "limit" not in params:
        return items, []
    try:
        limit = int(params["limit"])
    except ValueError:
        raise BadRequest(
            f"Limit must be an integer 0 or greater and not '{params['limit']}'"
        ) from None
    if limit < 0:
        raise BadRequest(f"Limit must be an integer 0 or greater and not '{limit}'")
    reverse = parse_bool(params.get("page_reverse", "false"), "page_reverse")
    marker = params.get("marker")
    ordered = list(reversed(items)) if reverse else items
    start = 0
    if marker:
        ids = [i.get("id") for i in ordered]
        start = ids.index(marker) + 1 if marker in ids else 0
    if limit == 0:
        chunk = ordered[start:]
        more = False
    else:
        chunk = ordered[start : start + limit]
        more = start + limit < len(ordered)
    links: list[dict[str, str]] = []
    base = [(k, v) for k, v in query if k not in ("marker", "page_reverse")]
    # collections without ids (availability zones) page without links
    has_ids = bool(chunk) and "id" in chunk[0]
    if has_ids and more:
        rel = "previous" if reverse else "next"
        q = [*base, ("marker", str(chunk[-1]["id"]))]
        if reverse:
            q.append(("page_reverse", "True"))
        links.append({"rel": rel, "href": f"{url}?{urlencode(q)}"})
    if has_ids and marker:
        rel = "next" if reverse else "previous"
        q = [*base, ("marker", str(chunk[0]["id"]))]
        if not reverse:
            q.append(("page_reverse", "True"))
        links.append({"rel": rel, "href": f"{url}?{urlencode(q)}"})
    if reverse:
        chunk = list(reversed(chunk))
    return chunk, links


def listing(
    items: Iterable[dict[str, Any]],
    query: Sequence[tuple[str, str]],
    collection: str,
    url: str,
    sortable: Iterable[str],
    skip_filters: Iterable[str] = (),
) -> dict[str, Any]:
    """The whole list response body for ``collection``."""
    filtered = filter_items(items, query_filters(query), skip_filters)
    ordered = sort_items(filtered, query, sortable)
    chunk, links = page(ordered, query, collection, url)
    fields = [v for k, v in query if k == "fields"]
    body: dict[str, Any] = {collection: [select_fields(i, fields) for i in chunk]}
    if links:
        body[f"{collection}_links"] = links
    return body
