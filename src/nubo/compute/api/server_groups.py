"""Server groups: /os-server-groups (list, create, show, delete)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import models as m
from nubo.compute import server_groups
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.params import non_negative, only_known


def _view(req: ApiRequest, row: m.ServerGroup, members: list[str]) -> dict[str, object]:
    return server_groups.view(
        row, members, owners=req.at_least("2.13"), policy_field=req.at_least("2.64")
    )


@router.route("GET", "/v2.1/os-server-groups")
def list_server_groups(req: ApiRequest) -> Reply:
    only_known(req, ("all_projects", "limit", "offset"))
    rows, members = server_groups.list_groups(
        compute(req),
        caller(req),
        all_projects="all_projects" in req.query,
        limit=non_negative(req, "limit"),
        offset=non_negative(req, "offset") or 0,
    )
    return Reply(200, {"server_groups": [_view(req, r, members.get(r.id, [])) for r in rows]})


@router.route("POST", "/v2.1/os-server-groups")
def create_server_group(req: ApiRequest) -> Reply:
    name, policy, rules = server_groups.parse_create(
        req.json(), soft=req.at_least("2.15"), policy_field=req.at_least("2.64")
    )
    row = server_groups.create_group(compute(req), caller(req), name, policy, rules)
    return Reply(200, {"server_group": _view(req, row, [])})


@router.route("GET", "/v2.1/os-server-groups/{group_id}")
def show_server_group(req: ApiRequest) -> Reply:
    row, members = server_groups.show_group(compute(req), caller(req), req.params["group_id"])
    return Reply(200, {"server_group": _view(req, row, members)})


@router.route("DELETE", "/v2.1/os-server-groups/{group_id}")
def delete_server_group(req: ApiRequest) -> Reply:
    server_groups.delete_group(compute(req), caller(req), req.params["group_id"])
    return Reply(204)
