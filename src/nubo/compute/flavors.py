"""Flavors (``/flavors``): the sizes servers are built with, their extra specs and,
for private flavors, the projects that may use them.

A public flavor is visible to everyone. A private one is visible to admins and to
the projects on its access list; to anyone else it does not exist (404). Only admins
create, delete and describe flavors, set extra specs and grant access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.compute import extra_specs
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.validation import MAX_INT, check_description, check_name, to_bool, to_int
from nubo.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

# id, name, RAM (MiB), vCPUs, root disk (GiB): Nova's classic set, plus the two small
# ones DevStack's Tempest setup uses (ids 42 and 84), fit for CirrOS on small hosts
DEFAULT_FLAVORS: tuple[tuple[str, str, int, int, int], ...] = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
)

# Nova's sort keys and the column (or value) each sorts by; ``id`` is Nova's internal
# row id, i.e. creation order
SORT_KEYS: dict[str, Callable[[m.Flavor], Any]] = {
    "created_at": lambda f: f.created_at,
    "description": lambda f: f.description,
    "disabled": lambda f: f.disabled,
    "ephemeral_gb": lambda f: f.ephemeral_gb,
    "flavorid": lambda f: f.id,
    "id": lambda f: (f.created_at, f.id),
    "is_public": lambda f: f.is_public,
    "memory_mb": lambda f: f.memory_mb,
    "name": lambda f: f.name,
    "root_gb": lambda f: f.root_gb,
    "rxtx_factor": lambda f: f.rxtx_factor,
    "swap": lambda f: f.swap_mb,
    "updated_at": lambda f: f.updated_at,
    "vcpu_weight": lambda f: 0,
    "vcpus": lambda f: f.vcpus,
}

FLAVOR_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789. _-")
# rxtx_factor is stored in a single-precision float column in Nova
MAX_RXTX = 3.40282e38


def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.")


def _visible(caller: Caller) -> Any:
    """Public flavors and the private ones the caller's project was given."""
    if caller.is_admin:
        return true()
    return or_(m.Flavor.is_public.is_(True), _granted(caller.project_id))


def _granted(project_id: str) -> Any:
    return exists().where(
        m.FlavorAccess.flavor_id == m.Flavor.id, m.FlavorAccess.project_id == project_id
    )


def get_flavor(s: Session, caller: Caller, flavor_id: str) -> m.Flavor:
    """The flavor if the caller may see it; 404 otherwise."""
    row = s.scalar(select(m.Flavor).where(m.Flavor.id == flavor_id, _visible(caller)))
    if row is None:
        raise not_found(flavor_id)
    return row


def find_usable_flavor(
    svc: ComputeService, s: Session, caller: Caller, flavor_ref: Any
) -> m.Flavor:
    """The flavor a server create or resize asks for (``flavorRef``: an id or a link
    ending in one); 400 "Flavor X could not be found." when missing, not visible to the
    caller or disabled, as Nova's server create answers."""
    if isinstance(flavor_ref, int) and not isinstance(flavor_ref, bool):
        flavor_ref = str(flavor_ref)
    if not isinstance(flavor_ref, str) or not flavor_ref.strip():
        raise BadRequest(
            "Invalid input for field/attribute flavorRef. Value: "
            f"{flavor_ref}. 'flavorRef' must be a flavor id or link."
        )
    flavor_id = flavor_ref.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    row = s.scalar(select(m.Flavor).where(m.Flavor.id == flavor_id, _visible(caller)))
    if row is None or row.disabled:
        raise BadRequest(f"Flavor {flavor_id} could not be found.")
    return row


# -- listing -------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    is_public: bool | None = True  # None: public and private (admins only)
    min_ram: int | None = None
    min_disk: int | None = None
    sort_key: str = "flavorid"
    sort_dir: str = "asc"
    limit: int | None = None
    marker: str | None = None


def parse_is_public(value: str | None) -> bool | None:
    """Nova's ``is_public`` filter: absent means public only, ``none`` means all."""
    if value is None:
        return True
    lowered = value.strip().lower()
    if lowered == "none":
        return None
    if lowered in ("true", "1", "yes", "on", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "off", "f", "n"):
        return False
    raise BadRequest(f"Invalid is_public filter [{value}]")


def _sort_value(row: m.Flavor, key: str) -> tuple[Any, ...]:
    value = SORT_KEYS[key](row)
    # None sorts first (as NULLs do ascending in Nova's MySQL); the id breaks ties
    return (value is not None, value if value is not None else 0, row.id)


def list_flavors(svc: ComputeService, caller: Caller, query: ListQuery) -> list[m.Flavor]:
    """The flavors the caller may see, filtered, sorted and paged as Nova does.

    Non-admins always get the public flavors plus their project's private ones, and
    never disabled ones; admins choose with ``is_public`` (True: public plus their
    project's private ones, False: private only, None: all)."""
    if query.sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameters sort_key. Value: {query.sort_key}.")
    if query.sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {query.sort_dir}.")
    stmt = select(m.Flavor)
    if caller.is_admin:
        if query.is_public is True:
            stmt = stmt.where(or_(m.Flavor.is_public.is_(True), _granted(caller.project_id)))
        elif query.is_public is False:
            stmt = stmt.where(m.Flavor.is_public.is_(False))
    else:
        stmt = stmt.where(_visible(caller), m.Flavor.disabled.is_(False))
    if query.min_ram is not None:
        stmt = stmt.where(m.Flavor.memory_mb >= query.min_ram)
    if query.min_disk is not None:
        stmt = stmt.where(m.Flavor.root_gb >= query.min_disk)
    with svc.db.reader() as s:
        rows = list(s.scalars(stmt))
        marker_row = None
        if query.marker is not None:
            marker_row = s.scalar(
                select(m.Flavor).where(m.Flavor.id == query.marker, _visible(caller))
            )
            if marker_row is None:
                raise BadRequest(f"marker [{query.marker}] not found")
    reverse = query.sort_dir == "desc"
    rows.sort(key=lambda r: _sort_value(r, query.sort_key), reverse=reverse)
    if marker_row is not None:
        after = _sort_value(marker_row, query.sort_key)
        rows = [
            r
            for r in rows
            if (
                _sort_value(r, query.sort_key) < after
                if reverse
                else _sort_value(r, query.sort_key) > after
            )
        ]
    if query.limit is not None:
        rows = rows[: query.limit]
    return rows


def show_flavor(svc: ComputeService, caller: Caller, flavor_id: str) -> m.Flavor:
    with svc.db.reader() as s:
        return get_flavor(s, caller, flavor_id)


# -- create, update, delete --------------------------------------------------------------


def _flavor_id(value: Any) -> str:
    if value is None:
        return str(uuid.uuid4())
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(
            f"Invalid input for field/attribute id. Value: {value}. "
            f"{value!r} is not of type 'string', 'number', 'null'"
        )
    text = str(value)
    if isinstance(value, str) and (
        not 1 <= len(text) <= 255
        or not set(text) <= FLAVOR_ID_CHARS
        or text.startswith(" ")
        or text.endswith(" ")
    ):
        raise BadRequest(
            f"Invalid input for field/attribute id. Value: {text}. '{text}' does not match "
            "'^(?! )[a-zA-Z0-9. _-]+(?<! )$'"
        )
    return text


def _rxtx(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(
            f"Invalid input for field/attribute rxtx_factor. Value: {value}. "
            f"{value!r} is not of type 'number', 'string'"
        )
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= MAX_RXTX:
        raise BadRequest(
            f"Invalid input received: 'rxtx_factor' argument must be a float between 0 and "
            f"{MAX_RXTX:g}"
        )
    return number


def create_flavor(
    svc: ComputeService, caller: Caller, body: Any, *, with_description: bool
) -> m.Flavor:
    """``POST /flavors`` with ``{"flavor": {name, ram, vcpus, disk, ...}}``."""
    caller.check("os-flavor-manage:create")
    if not isinstance(body, dict) or not isinstance(body.get("flavor"), dict):
        raise BadRequest(
            "Invalid input for field/attribute flavor. 'flavor' is a required property"
        )
    extra = set(body) - {"flavor"}
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ('{sorted(extra)[0]}' was unexpected)"
        )
    vals: dict[str, Any] = body["flavor"]
    allowed = {"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap",
               "rxtx_factor", "os-flavor-access:is_public"}  # fmt: skip
    if with_description:
        allowed.add("description")
    unknown = sorted(set(vals) - allowed)
    if unknown:
        raise BadRequest(
            f"Invalid input for field/attribute flavor. Additional properties are "
            f"not allowed ('{unknown[0]}' was unexpected)"
        )
    for required in ("name", "ram", "vcpus", "disk"):
        if required not in vals:
            raise BadRequest(
                f"Invalid input for field/attribute flavor. '{required}' is a required property"
            )
    name = check_name(vals["name"], "name")
    row = m.Flavor(
        id=_flavor_id(vals.get("id")),
        name=name.strip(),
        memory_mb=to_int(vals["ram"], "ram", 1, MAX_INT),
        vcpus=to_int(vals["vcpus"], "vcpus", 1, MAX_INT),
        root_gb=to_int(vals["disk"], "disk", 0, MAX_INT),
        ephemeral_gb=to_int(vals.get("OS-FLV-EXT-DATA:ephemeral", 0), "ephemeral", 0, MAX_INT),
        swap_mb=to_int(vals.get("swap", 0), "swap", 0, MAX_INT),
        rxtx_factor=_rxtx(vals.get("rxtx_factor", 1.0)),
        is_public=to_bool(
            vals.get("os-flavor-access:is_public", True), "os-flavor-access:is_public"
        ),
        disabled=False,
        description=check_description(vals.get("description"), "description", 65535),
        extra_specs={},
    )
    with svc.db.session() as s:
        _check_unique(s, row.id, row.name)
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(f"Flavor with ID {row.id} already exists.") from None
    return row


def _check_unique(s: Session, flavor_id: str, name: str) -> None:
    if s.get(m.Flavor, flavor_id) is not None:
        raise Conflict(f"Flavor with ID {flavor_id} already exists.")
    if s.scalar(select(m.Flavor.id).where(m.Flavor.name == name)) is not None:
        raise Conflict(f"Flavor with name {name} already exists.")


def update_flavor(svc: ComputeService, caller: Caller, flavor_id: str, body: Any) -> m.Flavor:
    """``PUT /flavors/{id}`` (2.55+): only the description can change."""
    caller.check("os-flavor-manage:update")
    if (
        not isinstance(body, dict)
        or set(body) != {"flavor"}
        or not isinstance(body["flavor"], dict)
    ):
        raise BadRequest(
            "Invalid input for field/attribute flavor. 'flavor' is a required property"
        )
    vals = body["flavor"]
    if "description" not in vals:
        raise BadRequest(
            "Invalid input for field/attribute flavor. 'description' is a required property"
        )
    unknown = sorted(set(vals) - {"description"})
    if unknown:
        raise BadRequest(
            f"Invalid input for field/attribute flavor. Additional properties are "
            f"not allowed ('{unknown[0]}' was unexpected)"
        )
    description = check_description(vals["description"], "description", 65535)
    with svc.db.session() as s:
        row = get_flavor(s, caller, flavor_id)
        row.description = description
        row.updated_at = dt.datetime.now(dt.UTC)
    return row


def delete_flavor(svc: ComputeService, caller: Caller, flavor_id: str) -> None:
    """Servers keep the flavor they were built with, so deleting one in use is fine."""
    caller.check("os-flavor-manage:delete")
    with svc.db.session() as s:
        row = s.get(m.Flavor, flavor_id)
        if row is None:
            raise not_found(flavor_id)
        s.execute(delete(m.FlavorAccess).where(m.FlavorAccess.flavor_id == flavor_id))
        s.delete(row)


def ensure_default_flavors(svc: ComputeService) -> list[str]:
    """Create Nova's default flavors on the first start, when there are no flavors at all;
    after that they are the operator's to change or delete. Returns the names made."""
    made: list[str] = []
    try:
        with svc.db.session() as s:
            if s.scalar(select(m.Flavor.id).limit(1)) is not None:
                return made
            for flavor_id, name, ram, vcpus, disk in DEFAULT_FLAVORS:
                s.add(
                    m.Flavor(
                        id=flavor_id, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
                        ephemeral_gb=0, swap_mb=0, rxtx_factor=1.0, is_public=True,
                        disabled=False, description=None, extra_specs={},
                    )
                )  # fmt: skip
                made.append(name)
    except IntegrityError:  # another process made them first
        return []
    return made


# -- extra specs ---------------------------------------------------------------------------


def show_extra_specs(svc: ComputeService, caller: Caller, flavor_id: str) -> dict[str, str]:
    caller.check("os-flavor-extra-specs:index")
    with svc.db.reader() as s:
        return dict(get_flavor(s, caller, flavor_id).extra_specs or {})


def show_extra_spec(svc: ComputeService, caller: Caller, flavor_id: str, key: str) -> str:
    caller.check("os-flavor-extra-specs:show")
    with svc.db.reader() as s:
        specs = get_flavor(s, caller, flavor_id).extra_specs or {}
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return specs[key]


def set_extra_specs(
    svc: ComputeService,
    caller: Caller,
    flavor_id: str,
    specs: Mapping[str, Any],
    *,
    strict: bool,
    rule: str = "os-flavor-extra-specs:create",
) -> dict[str, str]:
    """Merge ``specs`` into the flavor's; returns the flavor's specs after."""
    caller.check(rule)
    checked = extra_specs.check(specs, strict)
    with svc.db.session() as s:
        row = get_flavor(s, caller, flavor_id)
        row.extra_specs = {**(row.extra_specs or {}), **checked}
        row.updated_at = dt.datetime.now(dt.UTC)
        return dict(row.extra_specs)


def delete_extra_spec(svc: ComputeService, caller: Caller, flavor_id: str, key: str) -> None:
    caller.check("os-flavor-extra-specs:delete")
    with svc.db.session() as s:
        row = get_flavor(s, caller, flavor_id)
        specs = dict(row.extra_specs or {})
        if key not in specs:
            raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        del specs[key]
        row.extra_specs = specs
        row.updated_at = dt.datetime.now(dt.UTC)


# -- access to private flavors -------------------------------------------------------------


def _projects(s: Session, flavor_id: str) -> list[str]:
    return list(
        s.scalars(
            select(m.FlavorAccess.project_id)
            .where(m.FlavorAccess.flavor_id == flavor_id)
            .order_by(m.FlavorAccess.project_id)
        )
    )


def list_access(svc: ComputeService, caller: Caller, flavor_id: str) -> list[str]:
    """The projects given a private flavor; 404 for a public one."""
    caller.check("os-flavor-access")
    with svc.db.reader() as s:
        row = get_flavor(s, caller, flavor_id)
        if row.is_public:
            raise NotFound("Access list not available for public flavors.")
        return _projects(s, flavor_id)


def _tenant(body: Any, action: str) -> str:
    vals = body.get(action) if isinstance(body, dict) else None
    if not isinstance(vals, dict) or "tenant" not in vals:
        raise BadRequest(
            f"Invalid input for field/attribute {action}. 'tenant' is a required property"
        )
    unknown = sorted(set(vals) - {"tenant"})
    if unknown:
        raise BadRequest(
            f"Invalid input for field/attribute {action}. Additional properties "
            f"are not allowed ('{unknown[0]}' was unexpected)"
        )
    tenant = vals["tenant"]
    if not isinstance(tenant, str) or not 1 <= len(tenant) <= 255:
        raise BadRequest(
            f"Invalid input for field/attribute tenant. Value: {tenant}. "
            "It must be a string of 1 to 255 characters."
        )
    return tenant


def _project_exists(s: Session, project_id: str) -> bool:
    from nubo.identity.models import Project

    return s.get(Project, project_id) is not None


def add_access(
    svc: ComputeService, caller: Caller, flavor_id: str, body: Any, *, refuse_public: bool
) -> list[str]:
    """``addTenantAccess``: give a project a private flavor (409 for a public flavor
    from 2.7, or a project that has it already)."""
    caller.check("os-flavor-access:add_tenant_access")
    tenant = _tenant(body, "addTenantAccess")
    with svc.db.session() as s:
        if not _project_exists(s, tenant):
            raise BadRequest(f"Project ID {tenant} is not a valid project.")
        row = get_flavor(s, caller, flavor_id)
        if row.is_public and refuse_public:
            raise Conflict("Can not add access to a public flavor.")
        if s.get(m.FlavorAccess, (flavor_id, tenant)) is not None:
            raise Conflict(
                f"Flavor access already exists for flavor {flavor_id} and project {tenant} "
                "combination."
            )
        s.add(m.FlavorAccess(flavor_id=flavor_id, project_id=tenant))
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(
                f"Flavor access already exists for flavor {flavor_id} and project {tenant} "
                "combination."
            ) from None
        return _projects(s, flavor_id)


def remove_access(svc: ComputeService, caller: Caller, flavor_id: str, body: Any) -> list[str]:
    """``removeTenantAccess``: 404 when the project does not have the flavor."""
    caller.check("os-flavor-access:remove_tenant_access")
    tenant = _tenant(body, "removeTenantAccess")
    with svc.db.session() as s:
        get_flavor(s, caller, flavor_id)
        grant = s.get(m.FlavorAccess, (flavor_id, tenant))
        if grant is None:
            raise NotFound(f"Flavor access not found for {flavor_id} / {tenant} combination.")
        s.delete(grant)
        s.flush()
        return _projects(s, flavor_id)


# -- views -------------------------------------------------------------------------------------


def view(
    row: m.Flavor,
    links: list[dict[str, str]],
    *,
    detail: bool,
    description: bool,
    specs: bool,
    swap_as_int: bool,
) -> dict[str, Any]:
    """A flavor's body at a microversion: ``description`` from 2.55, ``extra_specs`` from
    2.61 (when the caller may read them), ``swap`` 0 rather than "" from 2.75."""
    if not detail:
        brief: dict[str, Any] = {"id": row.id, "name": row.name, "links": links}
        if description:
            brief["description"] = row.description
        return brief
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "ram": row.memory_mb,
        "disk": row.root_gb,
        "swap": row.swap_mb if swap_as_int else (row.swap_mb or ""),
        "OS-FLV-EXT-DATA:ephemeral": row.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": bool(row.disabled),
        "vcpus": row.vcpus,
        "os-flavor-access:is_public": bool(row.is_public),
        "rxtx_factor": row.rxtx_factor,
        "links": links,
    }
    if description:
        body["description"] = row.description
    if specs:
        body["extra_specs"] = dict(row.extra_specs or {})
    return body


def access_view(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}
