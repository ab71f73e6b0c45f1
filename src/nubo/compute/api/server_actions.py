"""Handlers of ``POST /servers/{id}/action``, one per action name (Nova's bodies and
microversion gates); the work is in ``nubo.compute.server_actions`` and friends."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_actions, server_consoles, server_images, server_moves
from nubo.compute.api.common import caller, compute
from nubo.compute.api.server_actions_registry import action
from nubo.compute.api.servers import view_context
from nubo.compute.server_views import basic, views
from nubo.errors import BadRequest, NotFound

# keys of the rebuild response before 2.75 (later: the whole server, as GET shows it)


def _fields(
    name: str, args: Any, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, Any]:
    """The action's object body with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(args, dict):
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: {args!r}. "
            f"{args!r} is not of type 'object'"
        )
    extra = sorted(set(args) - set(allowed))
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Additional properties are not allowed "
            f"({', '.join(repr(k) for k in extra)} were unexpected)"
        )
    for key in required:
        if key not in args:
            raise BadRequest(
                f"Invalid input for field/attribute {name}. '{key}' is a required property"
            )
    return args


def _null(name: str, args: Any) -> None:
    """Actions whose value is null (an empty object is taken too, as clients send it)."""
    if args not in (None, {}):
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: {args!r}. "
            f"{args!r} is not of type 'null'"
        )


def _string(name: str, value: Any, maximum: int = 255) -> str:
    if not isinstance(value, str) or len(value) > maximum:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value!r}.")
    return value


def _accepted() -> Reply:
    return Reply(202)


# -- power and state -----------------------------------------------------------------------


def _simple(name: str, key: str) -> None:
    def handler(req: ApiRequest, server_id: str, args: Any) -> Reply:
        _null(key, args)
        server_actions.simple_action(compute(req), caller(req), server_id, name)
        return _accepted()

    handler.__name__ = f"action_{name}"
    action(key)(handler)


for _name, _key in (
    ("stop", "os-stop"),
    ("start", "os-start"),
    ("pause", "pause"),
    ("unpause", "unpause"),
    ("suspend", "suspend"),
    ("resume", "resume"),
    ("unrescue", "unrescue"),
):
    _simple(_name, _key)


@action("reboot")
def reboot(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("reboot", args, ("type",), ("type",))
    kind = body["type"]
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise BadRequest(
            f"Invalid input for field/attribute type. Value: {kind}. "
            f"{kind!r} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"
        )
    server_actions.reboot(compute(req), caller(req), server_id, hard=kind.upper() == "HARD")
    return _accepted()


@action("lock")
def lock(req: ApiRequest, server_id: str, args: Any) -> Reply:
    reason = None
    if args not in (None, {}):
        if not req.at_least("2.73"):
            _null("lock", args)
        body = _fields("lock", args, ("locked_reason",))
        if "locked_reason" in body:
            reason = _string("locked_reason", body["locked_reason"])
    server_actions.lock(compute(req), caller(req), server_id, reason)
    return _accepted()


@action("unlock")
def unlock(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("unlock", args)
    server_actions.unlock(compute(req), caller(req), server_id)
    return _accepted()


@action("rescue")
def rescue(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = {} if args is None else _fields("rescue", args, ("adminPass", "rescue_image_ref"))
    admin_pass = body.get("adminPass")
    if admin_pass is not None:
        _string("adminPass", admin_pass)
    password = admin_pass or secrets.token_urlsafe(9)
    image = body.get("rescue_image_ref")
    if image is not None:
        _string("rescue_image_ref", image)
    server_actions.rescue(compute(req), caller(req), server_id, image)
    return Reply(200, {"adminPass": password})


@action("os-resetState")
def reset_state(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("os-resetState", args, ("state",), ("state",))
    if body["state"] not in ("active", "error"):
        raise BadRequest(
            f"Invalid input for field/attribute state. Value: {body['state']!r}. "
            "'state' is not one of ['active', 'error']"
        )
    server_actions.reset_state(compute(req), caller(req), server_id, body["state"])
    return _accepted()


@action("changePassword")
def change_password(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("changePassword", args, ("adminPass",), ("adminPass",))
    _string("adminPass", body["adminPass"])
    server_actions.change_password(compute(req), caller(req), server_id)
    return _accepted()


@action("trigger_crash_dump")
def trigger_crash_dump(req: ApiRequest, server_id: str, args: Any) -> Reply:
    if not req.at_least("2.17"):
        raise BadRequest("There is no such action: trigger_crash_dump")
    _null("trigger_crash_dump", args)
    server_actions.trigger_crash_dump(compute(req), caller(req), server_id)
    return _accepted()


@action("migrate")
def migrate(req: ApiRequest, server_id: str, args: Any) -> Reply:
    host = None
    if args not in (None, {}):
        if not req.at_least("2.56"):
            _null("migrate", args)
        body = _fields("migrate", args, ("host",))
        if body.get("host") is not None:
            host = _string("host", body["host"])
    server_actions.migrate(compute(req), caller(req), server_id, live=False, host=host)
    return _accepted()


@action("os-migrateLive")
def migrate_live(req: ApiRequest, server_id: str, args: Any) -> Reply:
    allowed = ["block_migration", "host"]
    if not req.at_least("2.25"):
        allowed.append("disk_over_commit")
    if req.at_least("2.30") and not req.at_least("2.68"):
        allowed.append("force")
    body = _fields("os-migrateLive", args, allowed, ("block_migration", "host"))
    host = body.get("host")
    if host is not None:
        _string("host", host)
    server_actions.migrate(compute(req), caller(req), server_id, live=True, host=host)
    return _accepted()


# -- security groups -------------------------------------------------------------------------


def _group_name(action_name: str, args: Any) -> str:
    body = _fields(action_name, args, ("name",), ("name",))
    name = _string("name", body["name"]).strip()
    if not name:
        raise BadRequest("Security group name cannot be empty")
    return name


@action("addSecurityGroup")
def add_security_group(req: ApiRequest, server_id: str, args: Any) -> Reply:
    name = _group_name("addSecurityGroup", args)
    server_actions.add_security_group(compute(req), caller(req), server_id, name)
    return _accepted()


@action("removeSecurityGroup")
def remove_security_group(req: ApiRequest, server_id: str, args: Any) -> Reply:
    name = _group_name("removeSecurityGroup", args)
    server_actions.remove_security_group(compute(req), caller(req), server_id, name)
    return _accepted()


# -- resize, rebuild ----------------------------------------------------------------------


@action("resize")
def resize(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("resize", args, ("flavorRef", "OS-DCF:diskConfig"), ("flavorRef",))
    server_moves.resize(
        compute(req), caller(req), server_id, body["flavorRef"], body.get("OS-DCF:diskConfig")
    )
    return _accepted()


@action("confirmResize")
def confirm_resize(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("confirmResize", args)
    server_moves.confirm_resize(compute(req), caller(req), server_id)
    return Reply(204)


@action("revertResize")
def revert_resize(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("revertResize", args)
    server_moves.revert_resize(compute(req), caller(req), server_id)
    return _accepted()


@action("rebuild")
def rebuild(req: ApiRequest, server_id: str, args: Any) -> Reply:
    svc = compute(req)
    row, admin_pass = server_moves.rebuild(svc, caller(req), server_id, args, req.version)
    ctx = view_context(req)
    with svc.db.reader() as s:
        (body,) = views(s, ctx, [row], with_groups=True)
    if req.at_least("2.57"):
        body["user_data"] = row.user_data
    if req.at_least("2.75"):
        # the full view, but user data only as ``user_data`` (Nova's rebuild schema)
        body.pop("OS-EXT-SRV-ATTR:user_data", None)
    keep = {"key_name"} if req.at_least("2.54") else set()
    if req.at_least("2.57"):
        keep.add("user_data")
    body = basic(body, req.version, frozenset(keep))
    body["adminPass"] = admin_pass
    return Reply(
        202, {"server": body}, headers={"location": ctx.links("servers", row.id)[0]["href"]}
    )


# -- images ------------------------------------------------------------------------------


def _image_reply(req: ApiRequest, image_id: str, location: bool = True) -> Reply:
    if req.at_least("2.45"):
        return Reply(202, {"image_id": image_id})
    headers = {"location": f"{req.service_url}/v2.1/images/{image_id}"} if location else {}
    return Reply(202, headers=headers)


@action("createImage")
def create_image(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("createImage", args, ("name", "metadata"), ("name",))
    name = server_images.check_image_name(body["name"])
    metadata = server_images.check_image_metadata(body.get("metadata"))
    image_id = server_images.snapshot(compute(req), caller(req), server_id, name, metadata)
    return _image_reply(req, image_id)


@action("createBackup")
def create_backup(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields(
        "createBackup",
        args,
        ("name", "backup_type", "rotation", "metadata"),
        ("name", "backup_type", "rotation"),
    )
    name = server_images.check_image_name(body["name"])
    backup_type = _string("backup_type", body["backup_type"])
    rotation = body["rotation"]
    if isinstance(rotation, str) and rotation.isdigit():
        rotation = int(rotation)
    if isinstance(rotation, bool) or not isinstance(rotation, int) or rotation < 0:
        raise BadRequest(
            f"Invalid input for field/attribute rotation. Value: {rotation!r}. "
            "must be an integer of at least 0"
        )
    metadata = server_images.check_image_metadata(body.get("metadata"))
    image_id = server_images.snapshot(
        compute(req), caller(req), server_id, name, metadata, backup=(backup_type, rotation)
    )
    return _image_reply(req, image_id, location=rotation > 0)


@action("shelve")
def shelve(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("shelve", args)
    server_images.shelve(compute(req), caller(req), server_id)
    return _accepted()


@action("shelveOffload")
def shelve_offload(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("shelveOffload", args)
    server_images.shelve_offload(compute(req), caller(req), server_id)
    return _accepted()


@action("unshelve")
def unshelve(req: ApiRequest, server_id: str, args: Any) -> Reply:
    zone: str | None = None
    host: str | None = None
    unpin = False
    if args not in (None, {}):
        if not req.at_least("2.77"):
            _null("unshelve", args)
        allowed = ("availability_zone", "host") if req.at_least("2.91") else ("availability_zone",)
        body = _fields("unshelve", args, allowed)
        if "availability_zone" in body:
            if body["availability_zone"] is None:
                if not req.at_least("2.91"):
                    raise BadRequest("Invalid input for field/attribute availability_zone.")
                unpin = True
            else:
                zone = _string("availability_zone", body["availability_zone"])
        if body.get("host") is not None:
            caller(req).check("os-shelve:unshelve_to_host")
            host = _string("host", body["host"])
    server_images.unshelve(compute(req), caller(req), server_id, zone, unpin, host)
    return _accepted()


# -- consoles ----------------------------------------------------------------------------


@action("os-getConsoleOutput")
def console_output(req: ApiRequest, server_id: str, args: Any) -> Reply:
    body = _fields("os-getConsoleOutput", args, ("length",))
    length = body.get("length")
    if isinstance(length, str):
        try:
            length = int(length)
        except ValueError:
            raise BadRequest(
                f"Invalid input for field/attribute length. Value: {length}."
            ) from None
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        raise BadRequest(f"Invalid input for field/attribute length. Value: {length!r}.")
    if length is not None and length < -1:
        raise BadRequest(
            f"Invalid input for field/attribute length. Value: {length}. "
            f"{length} is less than the minimum of -1"
        )
    output = server_consoles.console_output(compute(req), caller(req), server_id, length)
    return Reply(200, {"output": output})


def _legacy_console(key: str, protocol: str) -> None:
    def handler(req: ApiRequest, server_id: str, args: Any) -> Reply:
        if req.at_least("2.6"):
            raise NotFound("The resource could not be found.")
        body = _fields(key, args, ("type",), ("type",))
        kind = _string("type", body["type"])
        url = server_consoles.remote_console(
            compute(req), caller(req), server_id, protocol, kind, req.service_url
        )
        return Reply(200, {"console": {"type": kind, "url": url}})

    handler.__name__ = f"action_{protocol}_console"
    action(key)(handler)


for _key, _protocol in (
    ("os-getVNCConsole", "vnc"),
    ("os-getSerialConsole", "serial"),
    ("os-getSPICEConsole", "spice"),
    ("os-getRDPConsole", "rdp"),
):
    _legacy_console(_key, _protocol)
