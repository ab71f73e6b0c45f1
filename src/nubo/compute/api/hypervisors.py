"""Hypervisors: /os-hypervisors (admin).

Ids are integers before 2.53 and the compute node's uuid (its Placement provider)
from 2.53, which also moves ``search`` and ``servers`` into query parameters. 2.88
drops the resource figures (Placement has them), ``/statistics`` and ``/uptime``, and
adds ``uptime`` to the detail view.
"""

from __future__ import annotations

import json
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import hypervisors
from nubo.compute.api.common import caller, compute, limit_marker, next_links, router
from nubo.compute.api.services import check_uuid, query_bool, strict_query
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, NotFound

_ALLOWED_LIST = ("limit", "marker", "hypervisor_hostname_pattern", "with_servers")


def _gone() -> NotFound:
    return NotFound("The resource could not be found.")


def view(
    req: ApiRequest,
    svc: ComputeService,
    hyp: hypervisors.Hypervisor,
    *,
    detail: bool,
    with_servers: bool = False,
) -> dict[str, Any]:
    uuid_ids = req.at_least("2.53")
    node, service = hyp.node, hyp.service
    body: dict[str, Any] = {
        "id": node.uuid if uuid_ids else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if hyp.up else "down",
        "status": "disabled" if service.disabled else "enabled",
    }
    if detail:
        body["hypervisor_type"] = node.hypervisor_type
        body["hypervisor_version"] = node.hypervisor_version
        body["host_ip"] = node.host_ip
        body["service"] = {
            "id": service.uuid if uuid_ids else service.id,
            "host": node.host,
            "disabled_reason": service.disabled_reason,
        }
        if req.at_least("2.88"):
            body["uptime"] = hypervisors.uptime_text(svc, hyp)
        else:
            body.update(hypervisors.usage_fields(hyp))
            cpu_info = dict(node.cpu_info or {})
            body["cpu_info"] = cpu_info if req.at_least("2.28") else json.dumps(cpu_info)
    if hyp.servers:
        body["servers"] = [{"name": s.name, "uuid": s.id} for s in hyp.servers]
    elif with_servers and req.at_least("2.75"):
        body["servers"] = []
    return body


def _list(req: ApiRequest, detail: bool) -> Reply:
    svc = compute(req)
    pattern: str | None = None
    with_servers = False
    limit: int | None = None
    marker: str | None = None
    paging = req.at_least("2.33")
    if req.at_least("2.53"):
        strict_query(req, _ALLOWED_LIST, "2.53")
        pattern = req.query.get("hypervisor_hostname_pattern")
        with_servers = query_bool(req, "with_servers")
        if pattern is not None and ("limit" in req.query or "marker" in req.query):
            raise BadRequest(
                "Paging over hypervisors with the hypervisor_hostname_pattern query "
                "parameter is not supported."
            )
    if paging and pattern is None:
        limit, marker = limit_marker(req)
        if not limit:
            limit = 1000
    found = hypervisors.list_hypervisors(
        svc,
        caller(req),
        detail=detail,
        uuid_ids=req.at_least("2.53"),
        pattern=pattern,
        limit=limit,
        marker=marker,
        with_usage=detail and not req.at_least("2.88"),
        with_servers=with_servers,
    )
    items = [view(req, svc, h, detail=detail, with_servers=with_servers) for h in found]
    body: dict[str, Any] = {"hypervisors": items}
    if paging and pattern is None:
        links = next_links(req, items, limit, "os-hypervisors")
        if links:
            body["hypervisors_links"] = links
    return Reply(200, body)


@router.route("GET", "/v2.1/os-hypervisors")
def list_hypervisors(req: ApiRequest) -> Reply:
    return _list(req, detail=False)


@router.route("GET", "/v2.1/os-hypervisors/detail")
def list_hypervisors_detail(req: ApiRequest) -> Reply:
    return _list(req, detail=True)


@router.route("GET", "/v2.1/os-hypervisors/statistics")
def show_statistics(req: ApiRequest) -> Reply:
    if req.at_least("2.88"):
        raise _gone()
    stats = hypervisors.statistics(compute(req), caller(req))
    return Reply(200, {"hypervisor_statistics": stats})


def _check_id(req: ApiRequest, hypervisor_id: str) -> None:
    if req.at_least("2.53"):
        check_uuid(hypervisor_id)
    elif not hypervisor_id.isdigit():
        raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


@router.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}/uptime")
def show_uptime(req: ApiRequest) -> Reply:
    if req.at_least("2.88"):
        raise _gone()
    hypervisor_id = req.params["hypervisor_id"]
    who = caller(req)
    who.check("os-hypervisors:uptime")
    _check_id(req, hypervisor_id)
    svc = compute(req)
    hyp, text = hypervisors.uptime(svc, who, hypervisor_id, uuid_ids=req.at_least("2.53"))
    body = view(req, svc, hyp, detail=False)
    body["uptime"] = text
    return Reply(200, {"hypervisor": body})


def _search(req: ApiRequest, with_servers: bool) -> Reply:
    if req.at_least("2.53"):
        raise _gone()
    svc = compute(req)
    who = caller(req)
    who.check("os-hypervisors:servers" if with_servers else "os-hypervisors:search")
    found = hypervisors.list_hypervisors(
        svc,
        who,
        detail=False,
        uuid_ids=False,
        pattern=req.params["pattern"],
        with_servers=with_servers,
    )
    return Reply(200, {"hypervisors": [view(req, svc, h, detail=False) for h in found]})


@router.route("GET", "/v2.1/os-hypervisors/{pattern}/search")
def search_hypervisors(req: ApiRequest) -> Reply:
    return _search(req, with_servers=False)


@router.route("GET", "/v2.1/os-hypervisors/{pattern}/servers")
def list_hypervisor_servers(req: ApiRequest) -> Reply:
    return _search(req, with_servers=True)


@router.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}")
def show_hypervisor(req: ApiRequest) -> Reply:
    hypervisor_id = req.params["hypervisor_id"]
    who = caller(req)
    who.check("os-hypervisors:show")
    with_servers = False
    if req.at_least("2.53"):
        strict_query(req, ("with_servers",), "2.53")
        with_servers = query_bool(req, "with_servers")
    _check_id(req, hypervisor_id)
    svc = compute(req)
    hyp = hypervisors.get_hypervisor(
        svc,
        who,
        hypervisor_id,
        uuid_ids=req.at_least("2.53"),
        with_usage=not req.at_least("2.88"),
        with_servers=with_servers,
    )
    return Reply(200, {"hypervisor": view(req, svc, hyp, detail=True, with_servers=with_servers)})
