"""Flavors: /flavors (list, detail, show, create, update, delete), their extra specs
(/flavors/{id}/os-extra_specs) and access lists (/flavors/{id}/os-flavor-access and
the addTenantAccess / removeTenantAccess actions)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import extra_specs, flavors
from nubo.compute import models as m
from nubo.compute.api.common import caller, compute, limit_marker, link, next_links, router
from nubo.compute.api.params import first, only_known
from nubo.errors import BadRequest, NotFound

LIST_QUERY = ("limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir")


def _view(req: ApiRequest, row: m.Flavor, detail: bool = True) -> dict[str, Any]:
    specs = req.at_least("2.61") and detail and caller(req).can("os-flavor-extra-specs:index")
    return flavors.view(
        row,
        link(req, "flavors", row.id),
        detail=detail,
        description=req.at_least("2.55"),
        specs=specs,
        swap_as_int=req.at_least("2.75"),
    )


def _int_filter(req: ApiRequest, name: str) -> int | None:
    value = first(req, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{value}]") from None


def _list(req: ApiRequest, detail: bool) -> Reply:
    only_known(req, LIST_QUERY)
    who = caller(req)
    limit, marker = limit_marker(req)
    query = flavors.ListQuery(
        is_public=flavors.parse_is_public(first(req, "is_public")) if who.is_admin else True,
        min_ram=_int_filter(req, "minRam"),
        min_disk=_int_filter(req, "minDisk"),
        sort_key=first(req, "sort_key") or "flavorid",
        sort_dir=first(req, "sort_dir") or "asc",
        limit=limit,
        marker=marker,
    )
    rows = flavors.list_flavors(compute(req), who, query)
    items = [_view(req, row, detail) for row in rows]
    body: dict[str, Any] = {"flavors": items}
    links = next_links(req, items, limit, "flavors")
    if links:
        body["flavors_links"] = links
    return Reply(200, body)


@router.route("GET", "/v2.1/flavors")
def list_flavors(req: ApiRequest) -> Reply:
    return _list(req, detail=False)


@router.route("GET", "/v2.1/flavors/detail")
def list_flavors_detail(req: ApiRequest) -> Reply:
    return _list(req, detail=True)


@router.route("GET", "/v2.1/flavors/{flavor_id}")
def show_flavor(req: ApiRequest) -> Reply:
    row = flavors.show_flavor(compute(req), caller(req), req.params["flavor_id"])
    return Reply(200, {"flavor": _view(req, row)})


@router.route("POST", "/v2.1/flavors")
def create_flavor(req: ApiRequest) -> Reply:
    row = flavors.create_flavor(
        compute(req), caller(req), req.json(), with_description=req.at_least("2.55")
    )
    return Reply(200, {"flavor": _view(req, row)})


@router.route("PUT", "/v2.1/flavors/{flavor_id}")
def update_flavor(req: ApiRequest) -> Reply:
    if not req.at_least("2.55"):
        raise NotFound("The resource could not be found.")
    row = flavors.update_flavor(compute(req), caller(req), req.params["flavor_id"], req.json())
    return Reply(200, {"flavor": _view(req, row)})


@router.route("DELETE", "/v2.1/flavors/{flavor_id}")
def delete_flavor(req: ApiRequest) -> Reply:
    flavors.delete_flavor(compute(req), caller(req), req.params["flavor_id"])
    return Reply(202)


# -- extra specs ---------------------------------------------------------------------------


@router.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs")
def list_extra_specs(req: ApiRequest) -> Reply:
    specs = flavors.show_extra_specs(compute(req), caller(req), req.params["flavor_id"])
    return Reply(200, {"extra_specs": specs})


@router.route("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs")
def create_extra_specs(req: ApiRequest) -> Reply:
    caller(req).check("os-flavor-extra-specs:create")
    body = req.json()
    if not isinstance(body, dict) or "extra_specs" not in body:
        raise BadRequest(
            "Invalid input for field/attribute extra_specs. 'extra_specs' is a required property"
        )
    unknown = sorted(set(body) - {"extra_specs"})
    if unknown:
        raise BadRequest(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    specs = body["extra_specs"]
    flavors.set_extra_specs(
        compute(req), caller(req), req.params["flavor_id"], specs, strict=req.at_least("2.86")
    )
    # Nova answers with the request's specs as given
    return Reply(200, {"extra_specs": specs})


@router.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def show_extra_spec(req: ApiRequest) -> Reply:
    key = req.params["key"]
    value = flavors.show_extra_spec(compute(req), caller(req), req.params["flavor_id"], key)
    return Reply(200, {key: value})


@router.route("PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def update_extra_spec(req: ApiRequest) -> Reply:
    key = req.params["key"]
    body = req.json()
    if not isinstance(body, dict) or not body:
        raise BadRequest(
            "Invalid input for field/attribute extra_specs. The request body "
            "must hold one extra spec."
        )
    if len(body) > 1:
        raise BadRequest(
            "Invalid input for field/attribute extra_specs. Request body contains too many items."
        )
    who = caller(req)
    who.check("os-flavor-extra-specs:update")
    # checked before the key is compared, as Nova does
    extra_specs.check(body, req.at_least("2.86"))
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    flavors.set_extra_specs(
        compute(req),
        who,
        req.params["flavor_id"],
        body,
        strict=req.at_least("2.86"),
        rule="os-flavor-extra-specs:update",
    )
    return Reply(200, body)


@router.route("DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def delete_extra_spec(req: ApiRequest) -> Reply:
    flavors.delete_extra_spec(compute(req), caller(req), req.params["flavor_id"], req.params["key"])
    return Reply(200)


# -- access ----------------------------------------------------------------------------------


@router.route("GET", "/v2.1/flavors/{flavor_id}/os-flavor-access")
def list_flavor_access(req: ApiRequest) -> Reply:
    flavor_id = req.params["flavor_id"]
    projects = flavors.list_access(compute(req), caller(req), flavor_id)
    return Reply(200, flavors.access_view(flavor_id, projects))


@router.route("POST", "/v2.1/flavors/{flavor_id}/action")
def flavor_action(req: ApiRequest) -> Reply:
    flavor_id = req.params["flavor_id"]
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: an action object with one key is expected.")
    action = next(iter(body))
    svc, who = compute(req), caller(req)
    if action == "addTenantAccess":
        projects = flavors.add_access(svc, who, flavor_id, body, refuse_public=req.at_least("2.7"))
    elif action == "removeTenantAccess":
        projects = flavors.remove_access(svc, who, flavor_id, body)
    else:
        raise BadRequest(f"There is no such action: {action}")
    return Reply(200, flavors.access_view(flavor_id, projects))
