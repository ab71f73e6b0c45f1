"""Keypairs: /os-keypairs (list, create or import, show, delete)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import keypairs
from nubo.compute.api.common import caller, compute, limit_marker, next_links, router
from nubo.compute.api.params import first, only_known
from nubo.errors import BadRequest


def _user(req: ApiRequest) -> str | None:
    """The ``user_id`` an admin may name from 2.10 (ignored before)."""
    return first(req, "user_id") if req.at_least("2.10") else None


def _body(req: ApiRequest) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("keypair"), dict):
        raise BadRequest(
            "Invalid input for field/attribute keypair. 'keypair' is a required property"
        )
    unknown = sorted(set(body) - {"keypair"})
    if unknown:
        raise BadRequest(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    vals: dict[str, Any] = body["keypair"]
    allowed = {"name", "public_key"}
    if req.at_least("2.2"):
        allowed.add("type")
    if req.at_least("2.10"):
        allowed.add("user_id")
    extra = sorted(set(vals) - allowed)
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute keypair. Additional properties are "
            f"not allowed ('{extra[0]}' was unexpected)"
        )
    required = ("name", "public_key") if req.at_least("2.92") else ("name",)
    for name in required:
        if name not in vals:
            raise BadRequest(
                f"Invalid input for field/attribute keypair. '{name}' is a required property"
            )
    for name in ("public_key", "type", "user_id"):
        if name in vals and not isinstance(vals[name], str):
            raise BadRequest(
                f"Invalid input for field/attribute {name}. Value: {vals[name]}. "
                f"{vals[name]!r} is not of type 'string'"
            )
    return vals


@router.route("GET", "/v2.1/os-keypairs")
def list_keypairs(req: ApiRequest) -> Reply:
    only_known(req, ("user_id", "limit", "marker"))
    paged = req.at_least("2.35")
    limit, marker = limit_marker(req) if paged else (None, None)
    rows = keypairs.list_keypairs(compute(req), caller(req), _user(req), limit, marker)
    with_type = req.at_least("2.2")
    items = [{"keypair": keypairs.view(r, detail=False, with_type=with_type)} for r in rows]
    body: dict[str, Any] = {"keypairs": items}
    if paged:
        links = next_links(req, [i["keypair"] for i in items], limit, "os-keypairs", "name")
        if links:
            body["keypairs_links"] = links
    return Reply(200, body)


@router.route("POST", "/v2.1/os-keypairs")
def create_keypair(req: ApiRequest) -> Reply:
    vals = _body(req)
    name = keypairs.check_keypair_name(vals["name"], req.at_least("2.92"))
    row, private = keypairs.create_keypair(
        compute(req),
        caller(req),
        name=name,
        key_type=vals.get("type", "ssh"),
        public_key=vals.get("public_key"),
        user_id=vals.get("user_id"),
    )
    body = keypairs.view(row, detail=False, with_type=req.at_least("2.2"), with_user=True)
    if private is not None:
        body["private_key"] = private
    return Reply(201 if req.at_least("2.2") else 200, {"keypair": body})


@router.route("GET", "/v2.1/os-keypairs/{name}")
def show_keypair(req: ApiRequest) -> Reply:
    only_known(req, ("user_id",))
    row = keypairs.show_keypair(compute(req), caller(req), _user(req), req.params["name"])
    return Reply(200, {"keypair": keypairs.view(row, detail=True, with_type=req.at_least("2.2"))})


@router.route("DELETE", "/v2.1/os-keypairs/{name}")
def delete_keypair(req: ApiRequest) -> Reply:
    only_known(req, ("user_id",))
    keypairs.delete_keypair(compute(req), caller(req), _user(req), req.params["name"])
    return Reply(204 if req.at_least("2.2") else 202)
