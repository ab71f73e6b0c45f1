"""Server metadata (``/servers/{id}/metadata``), tags (``/servers/{id}/tags``, 2.26+)
and the server password (``/servers/{id}/os-server-password``).

Metadata keys follow Nova's pattern (letters, digits, ``-_:. ``, 1 to 255), values
are strings of at most 255 characters and the project's ``metadata_items`` quota
bounds their number. Changes need the server in active, paused, suspended or
stopped, and unlocked (Nova's checks); tags need the same states.
"""

from __future__ import annotations

import re
from typing import Any

from nubo.compute import models as m
from nubo.compute import quotas, servers, states
from nubo.compute.access import Caller
from nubo.compute.server_actions import begin, invalid_state, load, touch
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Forbidden, NotFound

KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
MAX_TAGS = 50
TAG_MAX = 60
TAG_STATES = frozenset({states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED})


def check_metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """Nova's metadata schema: an object of pattern keys to strings up to 255."""
    if not isinstance(value, dict):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value!r}. "
            f"{value!r} is not of type 'object'"
        )
    for key, item in value.items():
        if not KEY.match(key):
            raise BadRequest(
                f"Invalid input for field/attribute {field}. Value: {value!r}. "
                f"Additional properties are not allowed ({key!r} was unexpected)"
            )
        if not isinstance(item, str):
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {item!r}. "
                f"{item!r} is not of type 'string'"
            )
        if len(item) > 255:
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {item}. {item!r} is too long"
            )
    return dict(value)


def _check_quota(s: Any, server: m.Server, metadata: dict[str, str]) -> None:
    limit = quotas.limit_of(s, server.project_id, server.user_id, "metadata_items")
    if 0 <= limit < len(metadata):
        raise Forbidden(f"Maximum number of metadata items exceeds {limit}")


def show_metadata(svc: ComputeService, caller: Caller, server_id: str) -> dict[str, str]:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("server-metadata:index", {"project_id": server.project_id})
        return dict(server.metadata_items or {})


def show_item(svc: ComputeService, caller: Caller, server_id: str, key: str) -> str:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("server-metadata:show", {"project_id": server.project_id})
        items = server.metadata_items or {}
        if key not in items:
            raise NotFound("Metadata item was not found")
        return items[key]


def update_metadata(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    metadata: dict[str, str],
    *,
    replace: bool,
    rule: str,
) -> dict[str, str]:
    """Merge (POST, PUT of one key) or replace (PUT) the metadata; returns the result."""
    with svc.db.session() as s:
        server = begin(s, caller, server_id, rule, "update metadata")
        merged = dict(metadata) if replace else {**(server.metadata_items or {}), **metadata}
        _check_quota(s, server, merged)
        server.metadata_items = merged
        touch(server)
        return merged


def delete_item(svc: ComputeService, caller: Caller, server_id: str, key: str) -> None:
    with svc.db.session() as s:
        server = load(s, caller, server_id, "server-metadata:delete")
        items = dict(server.metadata_items or {})
        if key not in items:
            raise NotFound("Metadata item was not found")
        from nubo.compute.server_actions import ALLOWED, check_allowed

        check_allowed(caller, server, "delete metadata", ALLOWED["delete metadata"])
        del items[key]
        server.metadata_items = items
        touch(server)


# -- tags --------------------------------------------------------------------------------


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not 1 <= len(tag) <= TAG_MAX or "/" in tag or "," in tag:
        raise BadRequest(
            f"Tag '{tag}' is invalid. It must be a non empty string without characters "
            f"'/' and ',' of at most {TAG_MAX} characters."
        )
    return tag


def _tag_target(s: Any, caller: Caller, server_id: str, rule: str, action: str) -> m.Server:
    server = load(s, caller, server_id, rule)
    if server.vm_state not in TAG_STATES:
        raise invalid_state(server, action, "vm_state", server.vm_state)
    return server


def list_tags(svc: ComputeService, caller: Caller, server_id: str) -> list[str]:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-server-tags:index", {"project_id": server.project_id})
        return list(server.tags or [])


def has_tag(svc: ComputeService, caller: Caller, server_id: str, tag: str) -> None:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-server-tags:show", {"project_id": server.project_id})
        if tag not in (server.tags or []):
            raise NotFound(f"Server {server_id} has no tag '{tag}'")


def replace_tags(svc: ComputeService, caller: Caller, server_id: str, tags: Any) -> list[str]:
    if not isinstance(tags, list):
        raise BadRequest("Invalid input for field/attribute tags. Value must be an array.")
    if len(tags) > MAX_TAGS:
        raise BadRequest(
            f"Invalid input for field/attribute tags. The number of tags exceeded the "
            f"per-server limit {MAX_TAGS}"
        )
    wanted = list(dict.fromkeys(check_tag(t) for t in tags))
    with svc.db.session() as s:
        server = _tag_target(s, caller, server_id, "os-server-tags:update_all", "update tags")
        server.tags = wanted
        touch(server)
    return wanted


def add_tag(svc: ComputeService, caller: Caller, server_id: str, tag: str) -> bool:
    """Add one tag; False when the server had it already (204 instead of 201)."""
    with svc.db.session() as s:
        server = _tag_target(s, caller, server_id, "os-server-tags:update", "update tag")
        check_tag(tag)
        current = list(server.tags or [])
        if len(current) >= MAX_TAGS:
            raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        if tag in current:
            return False
        server.tags = [*current, tag]
        touch(server)
        return True


def delete_tag(svc: ComputeService, caller: Caller, server_id: str, tag: str) -> None:
    with svc.db.session() as s:
        server = _tag_target(s, caller, server_id, "os-server-tags:delete", "delete tag")
        current = list(server.tags or [])
        if tag not in current:
            raise NotFound(f"Instance {server_id} has no tag '{tag}'")
        server.tags = [t for t in current if t != tag]
        touch(server)


def delete_tags(svc: ComputeService, caller: Caller, server_id: str) -> None:
    with svc.db.session() as s:
        server = _tag_target(s, caller, server_id, "os-server-tags:delete_all", "delete tags")
        server.tags = []
        touch(server)


# -- password ----------------------------------------------------------------------------


def show_password(svc: ComputeService, caller: Caller, server_id: str) -> str:
    """The encrypted password a guest posted to the metadata service (empty if none)."""
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-server-password:show", {"project_id": server.project_id})
        return server.password or ""


def clear_password(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Forget the posted password (the guest may post a new one)."""
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-server-password:clear")
        server.password = None
        touch(server)
