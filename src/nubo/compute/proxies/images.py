"""The images proxy (``/images``, to 2.35) and image metadata (``/images/{id}/metadata``,
to 2.38): the image service's images in Nova's shape.

Nova's image status is coarser than Glance's (queued and saving are ``SAVING``), its
``metadata`` is the image's custom properties, and a snapshot names its server
(``instance_uuid``). Listing filters map to the image service's: ``server`` (an id
or a server URL) to ``instance_uuid``, ``type`` to ``image_type``, ``changes-since``
to ``updated_at >=``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nubo.compute import quotas
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Forbidden, NotFound
from nubo.image import access as image_access
from nubo.image.listing import MAX_LIMIT
from nubo.image.models import Image
from nubo.image.schemas import READ_ONLY, RESERVED, RESERVED_PREFIX, WRITABLE
from nubo.image.views import timestamp

PATCH = "application/openstack-images-v2.1-json-patch"
# Glance status -> (Nova status, progress)
STATUS: dict[str, tuple[str, int]] = {
    "active": ("ACTIVE", 100),
    "queued": ("SAVING", 25),
    "saving": ("SAVING", 50),
    "uploading": ("SAVING", 50),
    "importing": ("SAVING", 50),
    "deleted": ("DELETED", 0),
    "pending_delete": ("DELETED", 0),
    "killed": ("ERROR", 0),
}
TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
# image-list parameters of the image service that a ``property-`` filter must not become
_NOT_PROPERTIES = frozenset(
    {"limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "tag", "visibility"}
)


def image_caller(caller: Caller) -> image_access.Caller:
    """The caller as the image service sees it: its policy decides, as Glance does for
    the user's token that Nova forwards."""
    return image_access.Caller(
        project_id=caller.project_id,
        is_admin=caller.is_admin,
        allowed=caller.allowed,
        user_id=caller.user_id,
        request_id=caller.request_id,
    )


def not_found() -> NotFound:
    return NotFound("Image not found.")


# -- listing ------------------------------------------------------------------------------


@dataclass
class ListQuery:
    """Nova's image filters, already checked."""

    name: str | None = None
    status: str | None = None
    changes_since: str | None = None
    server: str | None = None
    image_type: str | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    properties: dict[str, str] | None = None
    limit: int | None = None
    marker: str | None = None


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{value}]") from None


def parse_query(items: Iterable[tuple[str, str]]) -> ListQuery:
    """The filters Nova passes on (others are ignored, as Nova ignores them)."""
    params = dict(items)
    q = ListQuery(
        name=params.get("name"),
        status=params["status"].lower() if "status" in params else None,
        changes_since=params.get("changes-since"),
        image_type=params.get("type"),
        marker=params.get("marker") or None,
        properties={
            k[len("property-") :]: v for k, v in params.items() if k.startswith("property-")
        },
    )
    if "server" in params:
        # a server id, or a link whose last part is one
        q.server = params["server"].rstrip("/").rsplit("/", 1)[-1]
    if "minRam" in params:
        q.min_ram = _int("minRam", params["minRam"])
    if "minDisk" in params:
        q.min_disk = _int("minDisk", params["minDisk"])
    if "limit" in params:
        limit = _int("limit", params["limit"])
        if limit < 0:
            raise BadRequest("limit param must be positive")
        q.limit = limit
    return q


def _image_query(q: ListQuery, marker: str | None, page: int) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = [("limit", str(page))]
    if marker:
        items.append(("marker", marker))
    if q.name is not None:
        items.append(("name", q.name))
    if q.status is not None:
        items.append(("status", q.status))
    if q.changes_since is not None:
        items.append(("updated_at", f"gte:{q.changes_since}"))
    if q.server is not None:
        items.append(("instance_uuid", q.server))
    if q.image_type is not None:
        items.append(("image_type", q.image_type))
    for key, value in (q.properties or {}).items():
        if key and key not in _NOT_PROPERTIES:
            items.append((key, value))
    return items


def _fits(image: Image, q: ListQuery) -> bool:
    if q.min_ram is not None and (image.min_ram or 0) < q.min_ram:
        return False
    return q.min_disk is None or (image.min_disk or 0) >= q.min_disk


def list_images(svc: ComputeService, caller: Caller, q: ListQuery) -> list[Image]:
    """The images the caller sees, newest first; all of them unless ``limit``."""
    who = image_caller(caller)
    wanted = q.limit
    found: list[Image] = []
    marker = q.marker
    while wanted is None or len(found) < wanted:
        rows, _tags, _q = svc.image.images.list_images(who, _image_query(q, marker, MAX_LIMIT))
        found.extend(r for r in rows if _fits(r, q))
        if len(rows) < MAX_LIMIT:
            break
        marker = rows[-1].id
    return found if wanted is None else found[:wanted]


# -- one image ------------------------------------------------------------------------------


def get_image(svc: ComputeService, caller: Caller, image_id: str) -> Image:
    try:
        image, _tags = svc.image.images.get(image_caller(caller), image_id)
    except NotFound:
        raise not_found() from None
    return image


def delete_image(svc: ComputeService, caller: Caller, image_id: str) -> None:
    try:
        svc.image.images.delete(image_caller(caller), image_id)
    except NotFound:
        raise not_found() from None
    except Forbidden as exc:
        raise Forbidden(f"You are not allowed to delete the image. {exc.message}") from None


# -- metadata -------------------------------------------------------------------------------


def _check_keys(keys: Iterable[str]) -> None:
    """Image attributes are not metadata; the image service refuses reserved names."""
    for key in keys:
        if (
            key in WRITABLE
            or key in READ_ONLY
            or key in RESERVED
            or key.startswith(RESERVED_PREFIX)
        ):
            raise BadRequest(f"Invalid metadata key {key}: it names an image attribute.")


def _check_quota(svc: ComputeService, caller: Caller, metadata: Mapping[str, str]) -> None:
    """Nova's image metadata limit: the project's ``metadata_items`` quota (403)."""
    with svc.db.reader() as s:
        limit = quotas.limit_of(s, caller.project_id, caller.user_id, "metadata_items")
    if 0 <= limit < len(metadata):
        raise Forbidden("Image metadata limit exceeded")


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _write(
    svc: ComputeService, caller: Caller, image: Image, wanted: Mapping[str, str]
) -> dict[str, str]:
    """Make the image's custom properties ``wanted`` with one JSON patch."""
    current = dict(image.properties or {})
    ops: list[dict[str, Any]] = [
        {"op": "remove", "path": _pointer(k)} for k in current if k not in wanted
    ]
    ops += [
        {"op": "add", "path": _pointer(k), "value": v}
        for k, v in wanted.items()
        if current.get(k) != v
    ]
    if not ops:
        return current
    try:
        updated, _tags = svc.image.images.update(image_caller(caller), image.id, ops, PATCH)
    except NotFound:
        raise not_found() from None
    return dict(updated.properties or {})


def metadata(svc: ComputeService, caller: Caller, image_id: str) -> dict[str, str]:
    return dict(get_image(svc, caller, image_id).properties or {})


def metadata_item(svc: ComputeService, caller: Caller, image_id: str, key: str) -> str:
    items = metadata(svc, caller, image_id)
    if key not in items:
        raise NotFound("The resource could not be found.")
    return items[key]


def update_metadata(
    svc: ComputeService,
    caller: Caller,
    image_id: str,
    values: Mapping[str, str],
    *,
    replace: bool,
) -> dict[str, str]:
    """Merge (POST, PUT of one key) or replace (PUT) the image's metadata; the result."""
    image = get_image(svc, caller, image_id)
    _check_keys(values)
    wanted = dict(values) if replace else {**(image.properties or {}), **values}
    _check_quota(svc, caller, wanted)
    return _write(svc, caller, image, wanted)


def delete_metadata_item(svc: ComputeService, caller: Caller, image_id: str, key: str) -> None:
    image = get_image(svc, caller, image_id)
    current = dict(image.properties or {})
    if key not in current:
        raise NotFound("Invalid metadata key")
    del current[key]
    _write(svc, caller, image, current)


# -- views -----------------------------------------------------------------------------------


def _links(service_url: str, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{service_url}/v2.1/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{service_url}/{collection}/{item_id}"},
    ]


def links(service_url: str, image_url: str, image_id: str) -> list[dict[str, str]]:
    """self, bookmark and the image service's own URL (``alternate``)."""
    return [
        *_links(service_url, "images", image_id),
        {
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": f"{image_url}/images/{image_id}",
        },
    ]


def view(image: Image, service_url: str, image_url: str, *, detail: bool) -> dict[str, Any]:
    """Nova's image body: ``id, name, links`` in a list, everything in detail/show."""
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "links": links(service_url, image_url, image.id),
    }
    if not detail:
        return body
    properties = dict(image.properties or {})
    status, progress = STATUS.get(image.status, ("UNKNOWN", 0))
    body.update(
        {
            "status": status,
            "progress": progress,
            "minRam": int(image.min_ram or 0),
            "minDisk": int(image.min_disk or 0),
            "metadata": properties,
            "created": timestamp(image.created_at),
            "updated": timestamp(image.updated_at),
            "OS-EXT-IMG-SIZE:size": image.size,
        }
    )
    server_id = properties.get("instance_uuid")
    if server_id is not None:
        body["server"] = {"id": str(server_id), "links": _links(service_url, "servers", server_id)}
    auto = properties.get("auto_disk_config")
    if auto is not None:
        body["OS-DCF:diskConfig"] = "AUTO" if str(auto).lower() in TRUE else "MANUAL"
    return body
