"""``GET /allocation_candidates`` (1.10): where a request's resources could come from."""

from __future__ import annotations

import re
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest
from nubo.placement import candidates, codes, providers
from nubo.placement.api.common import (
    check_query,
    parse_member_of,
    parse_required,
    parse_resources,
    placement,
    reply,
    require,
    router,
)
from nubo.placement.candidates import Candidate, RequestGroup, Search, Snapshot
from nubo.placement.resource_classes import unknown_classes

_SUFFIX_NUMBER = re.compile(r"^(resources|required|member_of|in_tree)([1-9][0-9]*)?$")
_SUFFIX_STRING = re.compile(r"^(resources|required|member_of|in_tree)([a-zA-Z0-9_-]{1,64})?$")


def _allowed(req: ApiRequest) -> set[str]:
    allowed = {"resources"}
    for version, param in (
        ("1.16", "limit"),
        ("1.17", "required"),
        ("1.21", "member_of"),
        ("1.25", "group_policy"),
        ("1.31", "in_tree"),
        ("1.35", "root_required"),
        ("1.36", "same_subtree"),
    ):
        if req.at_least(version):
            allowed.add(param)
    return allowed


def _parse(req: ApiRequest) -> Search:
    """The request groups and request-wide options of the query string."""
    allowed = _allowed(req)
    pattern = _SUFFIX_STRING if req.at_least("1.33") else _SUFFIX_NUMBER
    grouped: dict[str, dict[str, list[str]]] = {}
    repeatable = {"same_subtree"}
    for key, value in req.query_items:
        match = pattern.match(key)
        if match is None:
            continue  # check_query names it
        kind, suffix = match.group(1), match.group(2) or ""
        if suffix and not req.at_least("1.25"):
            continue
        if not suffix and kind not in allowed:
            continue
        if kind == "in_tree" and not req.at_least("1.31"):
            continue
        grouped.setdefault(suffix, {}).setdefault(kind, []).append(value)
        allowed.add(key)
        if (kind == "member_of" and req.at_least("1.24")) or (
            kind == "required" and req.at_least("1.39")
        ):
            repeatable.add(key)
    check_query(req, allowed, repeatable)
    groups = [_group(req, suffix, params) for suffix, params in sorted(grouped.items())]
    if not any(g.resources for g in groups):
        if req.at_least("1.25"):
            raise BadRequest(
                "At least one request group (`resources` or `resources{$S}`) is required.",
                kind=codes.QUERY_MISSING_VALUE,
            )
        raise BadRequest(
            "Invalid query string parameters: 'resources' is a required property",
            kind=codes.QUERY_MISSING_VALUE,
        )
    query = req.query
    policy = query.get("group_policy")
    if policy is not None and policy not in ("none", "isolate"):
        raise BadRequest(
            f"Invalid query string parameters: '{policy}' is not one of ['none', 'isolate']",
            kind=codes.QUERY_BAD_VALUE,
        )
    if policy is None and sum(1 for g in groups if g.same_provider and g.resources) > 1:
        raise BadRequest(
            'The "group_policy" parameter is required when specifying more than one '
            '"resources{N}" parameter.',
            kind=codes.QUERY_MISSING_VALUE,
        )
    limit = None
    if "limit" in query:
        if not re.match(r"^[1-9][0-9]*$", query["limit"]):
            raise BadRequest(
                f"Invalid query string parameters: '{query['limit']}' does not match "
                "'^[1-9][0-9]*$'",
                kind=codes.QUERY_BAD_VALUE,
            )
        limit = int(query["limit"])
    root = (
        parse_required(req, [query["root_required"]], "root_required")
        if ("root_required" in query)
        else None
    )
    if root is not None and any(len(g) > 1 for g in root.required):
        raise BadRequest("The 'in:' prefix is not supported in root_required.")
    subtrees = [[s.strip() for s in v.split(",")] for v in req.query_all("same_subtree")]
    known = {g.suffix for g in groups if g.suffix}
    for subtree in subtrees:
        unknown = sorted(set(subtree) - known)
        if unknown:
            raise BadRequest(
                "Real suffixes should be specified in same_subtree: "
                f"{', '.join(unknown)} not found in {', '.join(sorted(known))}.",
                kind=codes.QUERY_BAD_VALUE,
            )
    in_subtree = {s for subtree in subtrees for s in subtree}
    for g in groups:
        if g.same_provider and not g.resources and g.suffix not in in_subtree:
            raise BadRequest(
                "All request groups must specify resources; a group without resources "
                f"(resources{g.suffix}) must be named in same_subtree.",
                kind=codes.QUERY_MISSING_VALUE,
            )
    return Search(
        groups=groups,
        isolate=policy == "isolate",
        nested=req.at_least("1.29"),
        limit=limit,
        root_traits=root,
        same_subtree=subtrees,
    )


def _group(req: ApiRequest, suffix: str, params: dict[str, list[str]]) -> RequestGroup:
    group = RequestGroup(suffix=suffix)
    resources = params.get("resources", [])
    if len(resources) > 1:
        raise BadRequest(
            f"Query parameter 'resources{suffix}' may be given only once.",
            kind=codes.QUERY_DUPLICATE_KEY,
        )
    if resources:
        group.resources = parse_resources(resources[0], f"resources{suffix}")
    group.traits = parse_required(req, params.get("required", []), f"required{suffix}")
    group.aggregates = parse_member_of(req, params.get("member_of", []), f"member_of{suffix}")
    trees = params.get("in_tree", [])
    if len(trees) > 1:
        raise BadRequest(
            f"Query parameter 'in_tree{suffix}' may be given only once.",
            kind=codes.QUERY_DUPLICATE_KEY,
        )
    if trees:
        group.in_tree = providers.parse_uuid(trees[0], f"in_tree{suffix}")
    return group


def _summaries(
    req: ApiRequest, snap: Snapshot, search: Search, found: list[Candidate]
) -> dict[str, Any]:
    requested = {rc for g in search.groups for rc in g.resources}
    result: dict[str, Any] = {}
    for uuid in candidates.summary_providers(snap, found, search.nested):
        p = snap.providers[uuid]
        stock = snap.inventory.get(uuid, {})
        used = snap.used.get(uuid, {})
        item: dict[str, Any] = {
            "resources": {
                rc: {"capacity": inv.capacity, "used": used.get(rc, 0)}
                for rc, inv in sorted(stock.items())
                if req.at_least("1.27") or rc in requested
            }
        }
        if req.at_least("1.17"):
            item["traits"] = sorted(snap.traits.get(uuid, set()))
        if req.at_least("1.29"):
            item["parent_provider_uuid"] = p.parent_uuid
            item["root_provider_uuid"] = p.root_uuid
        result[uuid] = item
    return result


def _request_view(req: ApiRequest, candidate: Candidate) -> dict[str, Any]:
    if not req.at_least("1.12"):
        return {
            "allocations": [
                {"resource_provider": {"uuid": uuid}, "resources": classes}
                for uuid, classes in sorted(candidate.allocations.items())
            ]
        }
    item: dict[str, Any] = {
        "allocations": {
            uuid: {"resources": classes} for uuid, classes in sorted(candidate.allocations.items())
        }
    }
    if req.at_least("1.34"):
        item["mappings"] = candidate.mappings
    return item


@router.route("GET", "/allocation_candidates", policy="placement:allocation_candidates:list")
def list_allocation_candidates(req: ApiRequest) -> Reply:
    require(req, "1.10")
    search = _parse(req)
    with placement(req).db.reader() as s:
        missing = unknown_classes(s, {rc for g in search.groups for rc in g.resources})
        if missing:
            raise BadRequest(
                "Invalid resource class in resources parameter: No such resource class "
                f"{missing[0]}."
            )
        every_trait: set[str] = set()
        for g in search.groups:
            every_trait |= g.traits.names()
        if search.root_traits is not None:
            every_trait |= search.root_traits.names()
        unknown = providers.unknown_traits(s, every_trait)
        if unknown:
            raise BadRequest("No such trait(s): " + ", ".join(unknown) + ".")
        snap = candidates.load(s)
    found = candidates.allocation_candidates(snap, search)
    data = {
        "allocation_requests": [_request_view(req, c) for c in found],
        "provider_summaries": _summaries(req, snap, search, found),
    }
    return reply(req, data)
