"""Server metadata: ``/servers/{id}/metadata`` and ``/servers/{id}/metadata/{key}``."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_metadata
from nubo.compute.api.common import caller, compute, router
from nubo.errors import BadRequest

BASE = "/v2.1/servers/{server_id}/metadata"


def _body(req: ApiRequest, key: str) -> Any:
    body = req.json()
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    extra = sorted(set(body) - {key})
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(repr(k) for k in extra)} "
            "were unexpected)"
        )
    return body[key]


@router.route("GET", BASE)
def list_metadata(req: ApiRequest) -> Reply:
    items = server_metadata.show_metadata(compute(req), caller(req), req.params["server_id"])
    return Reply(200, {"metadata": items})


@router.route("POST", BASE)
def create_metadata(req: ApiRequest) -> Reply:
    metadata = server_metadata.check_metadata(_body(req, "metadata"))
    merged = server_metadata.update_metadata(
        compute(req),
        caller(req),
        req.params["server_id"],
        metadata,
        replace=False,
        rule="server-metadata:create",
    )
    return Reply(200, {"metadata": merged})


@router.route("PUT", BASE)
def replace_metadata(req: ApiRequest) -> Reply:
    metadata = server_metadata.check_metadata(_body(req, "metadata"))
    result = server_metadata.update_metadata(
        compute(req),
        caller(req),
        req.params["server_id"],
        metadata,
        replace=True,
        rule="server-metadata:update_all",
    )
    return Reply(200, {"metadata": result})


@router.route("GET", BASE + "/{key}")
def show_metadata_item(req: ApiRequest) -> Reply:
    key = req.params["key"]
    value = server_metadata.show_item(compute(req), caller(req), req.params["server_id"], key)
    return Reply(200, {"meta": {key: value}})


@router.route("PUT", BASE + "/{key}")
def update_metadata_item(req: ApiRequest) -> Reply:
    key = req.params["key"]
    meta = _body(req, "meta")
    if isinstance(meta, dict) and len(meta) > 1:
        raise BadRequest("Request body contains too many items")
    if isinstance(meta, dict) and not meta:
        raise BadRequest(
            "Invalid input for field/attribute meta. {} does not have enough properties"
        )
    item = server_metadata.check_metadata(meta, "meta")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    server_metadata.update_metadata(
        compute(req),
        caller(req),
        req.params["server_id"],
        item,
        replace=False,
        rule="server-metadata:update",
    )
    return Reply(200, {"meta": item})


@router.route("DELETE", BASE + "/{key}")
def delete_metadata_item(req: ApiRequest) -> Reply:
    server_metadata.delete_item(
        compute(req), caller(req), req.params["server_id"], req.params["key"]
    )
    return Reply(204)
