"""Subnet pools (/v2.0/subnetpools): prefixes subnets are carved from, with prefix
length bounds, a per-project quota in address units, an optional address scope and
one default pool per IP version; ``add_prefixes`` / ``remove_prefixes``; and the
allocation of a subnet's CIDR from a pool, the way Neutron's subnet allocator does it
(the smallest free block that fits, its first prefix of the wanted length)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import address_scopes, quotas, rbac, tags
from nubo.network import models as m
from nubo.network.access import (
    Caller,
    check_revision,
    not_found,
    project_for_create,
    standard,
    touch,
)
from nubo.network.attributes import (
    DESCRIPTION,
    PROJECT,
    Attr,
    Invalid,
    boolean,
    cidr,
    integer,
    list_of,
    nullable,
    string,
    uuid_str,
)

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
OBJECT_TYPE = "subnetpool"
# Neutron's defaults: min_prefixlen 8 (IPv4) / 64 (IPv6), max the address length;
# default_quota counts /32 (IPv4) or /64 (IPv6) units
DEFAULT_MIN_PREFIXLEN = {4: 8, 6: 64}
MAX_PREFIXLEN = {4: 32, 6: 128}
QUOTA_UNIT = {4: 32, 6: 64}


def non_negative(value: Any) -> int:
    number = integer()(value)
    if number < 0:
        raise Invalid(f"'{number}' should be non-negative")
    return int(number)


def not_empty_string(value: Any) -> str:
    text: str = string(255)(value)
    if not text.strip():
        raise Invalid(f"'{value}' Blank strings are not permitted")
    return text


ATTRS: dict[str, Attr] = {
    "name": Attr(not_empty_string, required=True),
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "prefixes": Attr(list_of(cidr), required=True),
    "default_quota": Attr(nullable(non_negative)),
    "default_prefixlen": Attr(non_negative),
    "min_prefixlen": Attr(non_negative),
    "max_prefixlen": Attr(non_negative),
    "is_default": Attr(boolean),
    "shared": Attr(boolean, put=False),
    "address_scope_id": Attr(nullable(uuid_str)),
    "ip_version": Attr(address_scopes.ip_version, post=False, put=False),
}


# -- prefix arithmetic (pure) -----------------------------------------------------------


def compact(prefixes: Iterable[str | Network]) -> list[Network]:
    """Merge overlapping and adjacent prefixes into the fewest CIDRs, by address."""
    nets = [ipaddress.ip_network(p) for p in prefixes]
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in nets if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _within(outer: Network, inner: Network) -> bool:
    return (
        outer.version == inner.version
        and int(outer.network_address) <= int(inner.network_address)
        and int(inner.broadcast_address) <= int(outer.broadcast_address)
    )


def _cidrs(version: int, first: int, last: int) -> list[Network]:
    if version == 4:
        return list(
            ipaddress.summarize_address_range(
                ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)
            )
        )
    return list(
        ipaddress.summarize_address_range(ipaddress.IPv6Address(first), ipaddress.IPv6Address(last))
    )


def subtract(prefixes: Iterable[str | Network], taken: Iterable[str | Network]) -> list[Network]:
    """The addresses of ``prefixes`` outside ``taken``, as compact CIDRs."""
    removed = compact(taken)
    out: list[Network] = []
    for version in (4, 6):
        free = [
            (int(n.network_address), int(n.broadcast_address))
            for n in compact(prefixes)
            if n.version == version
        ]
        for used in removed:
            if used.version != version:
                continue
            lo, hi = int(used.network_address), int(used.broadcast_address)
            rest = []
            for first, last in free:
                if hi < first or lo > last:
                    rest.append((first, last))
                    continue
                if first < lo:
                    rest.append((first, lo - 1))
                if hi < last:
                    rest.append((hi + 1, last))
            free = rest
        for first, last in free:
            out.extend(_cidrs(version, first, last))
    return compact(out)


def available(prefixes: Iterable[str | Network], taken: Iterable[str | Network]) -> list[Network]:
    """Free blocks, smallest first (longest prefix), then by address: the order
    Neutron's allocator tries them in."""
    return sorted(subtract(prefixes, taken), key=lambda n: -n.prefixlen)


def pick(prefixes: Iterable[str], taken: Iterable[str], prefixlen: int) -> str | None:
    """The CIDR an any-subnet request of ``prefixlen`` gets, or None when no block
    is large enough: the first prefix of the smallest free block that fits."""
    for block in available(prefixes, taken):
        if prefixlen >= block.prefixlen:
            return str(next(block.subnets(new_prefix=prefixlen)))
    return None


def fits(prefixes: Iterable[str], taken: Iterable[str], wanted: str) -> bool:
    """Whether a specific CIDR lies wholly inside one free block."""
    net = ipaddress.ip_network(wanted)
    return any(_within(block, net) for block in available(prefixes, taken))


def bounds(
    version: int,
    min_prefixlen: int | None,
    max_prefixlen: int | None,
    default_prefixlen: int | None,
) -> tuple[int, int, int]:
    """Prefix length bounds with Neutron's defaults, checked (400
    IllegalSubnetPoolPrefixBounds)."""
    low = DEFAULT_MIN_PREFIXLEN[version] if min_prefixlen is None else min_prefixlen
    high = MAX_PREFIXLEN[version] if max_prefixlen is None else max_prefixlen
    default = low if default_prefixlen is None else default_prefixlen

    def illegal(kind: str, value: int, base_kind: str, base: int) -> BadRequest:
        return BadRequest(
            f"Illegal prefix bounds: {kind}={value}, {base_kind}={base}.",
            kind="IllegalSubnetPoolPrefixBounds",
        )

    if low > high:
        raise illegal("min_prefixlen", low, "max_prefixlen", high)
    if high > MAX_PREFIXLEN[version]:
        raise illegal("max_prefixlen", high, "ip_version_max", MAX_PREFIXLEN[version])
    if default < low:
        raise illegal("default_prefixlen", default, "min_prefixlen", low)
    if default > high:
        raise illegal("default_prefixlen", default, "max_prefixlen", high)
    return low, high, default


def prefix_version(prefixes: Sequence[str]) -> int:
    if not prefixes:
        raise BadRequest("Empty subnet pool prefix list.", kind="EmptySubnetPoolPrefixList")
    versions = {ipaddress.ip_network(p).version for p in prefixes}
    if len(versions) > 1:
        raise BadRequest(
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", kind="PrefixVersionMismatch"
        )
    return versions.pop()


def quota_units(version: int, prefixlen: int) -> int:
    return int(2 ** (QUOTA_UNIT[version] - prefixlen)) if prefixlen <= QUOTA_UNIT[version] else 1


# -- visibility and views ----------------------------------------------------------------


def visible(s: Session, caller: Caller) -> Any:
    """What ``caller`` can see (see rbac.visible_shared)."""
    return rbac.visible_shared(s, m.SubnetPool, OBJECT_TYPE, caller.project_id, caller.is_admin)


def find(s: Session, caller: Caller, pool_id: str) -> m.SubnetPool:
    row = s.scalar(select(m.SubnetPool).where(m.SubnetPool.id == pool_id, visible(s, caller)))
    if row is None:
        raise not_found("subnet_pool", pool_id)
    return row


def views(s: Session, caller: Caller, rows: Sequence[m.SubnetPool]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    grants = rbac.grants(s, OBJECT_TYPE, ids)
    tag_map = tags.of_many(s, "subnetpools", ids)
    out = []
    for r in rows:
        body = standard(r, tag_map.get(r.id, []))
        body.update(
            {
                "ip_version": r.ip_version,
                "prefixes": list(r.prefixes),
                # Neutron returns the prefix lengths as strings
                "default_prefixlen": str(r.default_prefixlen),
                "min_prefixlen": str(r.min_prefixlen),
                "max_prefixlen": str(r.max_prefixlen),
                "shared": bool(r.shared) or rbac.is_shared_with(grants[r.id], caller.project_id),
                "is_default": r.is_default,
                "default_quota": r.default_quota,
                "address_scope_id": r.address_scope_id,
            }
        )
        out.append(body)
    return out


def _write_allowed(caller: Caller, rule: str, row: m.SubnetPool) -> None:
    """An update refused to a caller who only sees a shared pool is a 404 (Neutron
    does not tell others the pool exists); its owner gets the 403."""
    if not caller.allowed(rule, {"project_id": row.project_id, "tenant_id": row.project_id}):
        if row.project_id != caller.project_id:
            raise not_found("subnet_pool", row.id)
        caller.check(rule, {"project_id": row.project_id})


# -- checks shared by create and update ---------------------------------------------------


def _check_default(s: Session, version: int, pool_id: str | None) -> None:
    stmt = select(func.count()).select_from(m.SubnetPool)
    stmt = stmt.where(m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == version)
    if pool_id is not None:
        stmt = stmt.where(m.SubnetPool.id != pool_id)
    if s.scalar(stmt):
        raise BadRequest(
            "Invalid input for operation: A default subnetpool for this IP family has "
            "already been set. Only one default may exist per IP family.",
            kind="InvalidInput",
        )


def _check_scope(
    s: Session,
    caller: Caller,
    scope_id: str | None,
    pool_id: str,
    version: int,
    prefixes: Sequence[str],
) -> None:
    """A pool may join a scope the caller can see, of its IP version, whose other
    pools' prefixes do not overlap its own."""
    if scope_id is None:
        return
    address_scopes.for_pool(s, caller, scope_id, pool_id, version)
    mine = compact(prefixes)
    for other in s.scalars(
        select(m.SubnetPool).where(
            m.SubnetPool.address_scope_id == scope_id, m.SubnetPool.id != pool_id
        )
    ):
        if any(a.overlaps(b) for a in mine for b in compact(other.prefixes)):
            raise Conflict(
                "Failed to associate address scope: subnetpools within an address scope "
                "must have unique prefixes.",
                kind="AddressScopePrefixConflict",
            )


def _check_rescope(s: Session, pool: m.SubnetPool) -> None:
    """Moving a pool to another scope must not leave a network with subnets of one IP
    version in two scopes."""
    network_ids = set(
        s.scalars(select(m.Subnet.network_id).where(m.Subnet.subnetpool_id == pool.id))
    )
    if not network_ids:
        return
    others = s.scalar(
        select(func.count())
        .select_from(m.Subnet)
        .where(
            m.Subnet.network_id.in_(network_ids),
            m.Subnet.ip_version == pool.ip_version,
            or_(m.Subnet.subnetpool_id.is_(None), m.Subnet.subnetpool_id != pool.id),
        )
    )
    if others:
        raise BadRequest(
            "Subnets of the same address family hosted on the same network must all "
            "participate in the same address scope.",
            kind="NetworkAddressScopeAffinityError",
        )


def _policy_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """On create, an attribute left at its default is not "set" for policy."""
    return {k: v for k, v in attrs.items() if not (k in ("shared", "is_default") and v is False)}


# -- service functions ----------------------------------------------------------------------


def list_subnetpools(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = (
            select(m.SubnetPool)
            .where(visible(s, caller))
            .order_by(m.SubnetPool.created_at, m.SubnetPool.id)
        )
        if "id" in filters:
            stmt = stmt.where(m.SubnetPool.id.in_(filters["id"]))
        return views(s, caller, list(s.scalars(stmt)))


def get_subnetpool(svc: NetworkService, caller: Caller, pool_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, pool_id)
        return views(s, caller, [row])[0]


def create_subnetpool(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    project = project_for_create(caller, attrs)
    caller.check_attributes("create", "subnetpool", _policy_attrs(attrs), {"project_id": project})
    version = prefix_version(attrs["prefixes"])
    low, high, default = bounds(
        version,
        attrs.get("min_prefixlen"),
        attrs.get("max_prefixlen"),
        attrs.get("default_prefixlen"),
    )
    with svc.db.session() as s:
        quotas.check(s, project, "subnetpool")
        row = m.SubnetPool(
            id=m.new_uuid(),
            project_id=project,
            name=attrs["name"],
            description=attrs.get("description", ""),
            ip_version=version,
            prefixes=[str(p) for p in compact(attrs["prefixes"])],
            default_prefixlen=default,
            min_prefixlen=low,
            max_prefixlen=high,
            shared=attrs.get("shared", False),
            is_default=attrs.get("is_default", False),
            default_quota=attrs.get("default_quota"),
            address_scope_id=attrs.get("address_scope_id"),
        )
        if row.is_default:
            _check_default(s, version, None)
        _check_scope(s, caller, row.address_scope_id, row.id, version, row.prefixes)
        s.add(row)
        s.flush()
        if row.shared:
            rbac.set_wildcard(s, OBJECT_TYPE, row.id, rbac.SHARED, project, True)
            s.flush()
        return views(s, caller, [row])[0]


def _update(
    svc: NetworkService,
    s: Session,
    caller: Caller,
    row: m.SubnetPool,
    attrs: Mapping[str, Any],
) -> None:
    """Apply an update (the PUT body, or a prefix operation's new prefix list)."""
    if row.address_scope_id and not caller.is_admin:
        scope = s.get(m.AddressScope, row.address_scope_id)
        if scope is not None and scope.project_id != caller.project_id:
            raise BadRequest(
                f"Illegal subnetpool update : subnetpool {row.id} cannot be updated when "
                f"associated with shared address scope {row.address_scope_id}.",
                kind="IllegalSubnetPoolUpdate",
            )
    prefixes = list(row.prefixes)
    if "prefixes" in attrs:
        new = attrs["prefixes"]
        if prefix_version(new) != row.ip_version or subtract(row.prefixes, new):
            raise BadRequest(
                "Illegal update to prefixes: Existing prefixes must be a subset of the new "
                "prefixes.",
                kind="IllegalSubnetPoolPrefixUpdate",
            )
        prefixes = [str(p) for p in compact(new)]
    low, high, default = bounds(
        row.ip_version,
        attrs.get("min_prefixlen", row.min_prefixlen),
        attrs.get("max_prefixlen", row.max_prefixlen),
        attrs.get("default_prefixlen", row.default_prefixlen),
    )
    if attrs.get("is_default") and not row.is_default:
        _check_default(s, row.ip_version, row.id)
    scope_id = attrs.get("address_scope_id", row.address_scope_id)
    _check_scope(s, caller, scope_id, row.id, row.ip_version, prefixes)
    if scope_id != row.address_scope_id:
        _check_rescope(s, row)
    row.prefixes = prefixes
    row.min_prefixlen, row.max_prefixlen, row.default_prefixlen = low, high, default
    row.address_scope_id = scope_id
    for field in ("name", "description", "is_default", "default_quota"):
        if field in attrs:
            setattr(row, field, attrs[field])
    touch(row)
    s.flush()


def update_subnetpool(
    svc: NetworkService,
    caller: Caller,
    pool_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, pool_id)
        _write_allowed(caller, "update_subnetpool", row)
        caller.check_attributes("update", "subnetpool", attrs, {"project_id": row.project_id})
        check_revision(headers, row)
        _update(svc, s, caller, row, attrs)
        return views(s, caller, [row])[0]


def _operation_prefixes(body: Any) -> list[str]:
    """The ``{"prefixes": [...]}`` body of add_prefixes / remove_prefixes."""
    if not isinstance(body, dict) or not isinstance(body.get("prefixes"), list):
        raise BadRequest("Bad subnetpool request: Request body contains invalid data.")
    try:
        return [cidr(p) for p in body["prefixes"]]
    except Invalid as exc:
        raise BadRequest(f"Invalid input for prefixes. Reason: {exc}.") from None


def add_prefixes(svc: NetworkService, caller: Caller, pool_id: str, body: Any) -> list[str]:
    wanted = _operation_prefixes(body)
    with svc.db.session() as s:
        row = find(s, caller, pool_id)
        _write_allowed(caller, "update_subnetpool", row)
        if wanted:
            _update(svc, s, caller, row, {"prefixes": [*row.prefixes, *wanted]})
        return list(row.prefixes)


def remove_prefixes(svc: NetworkService, caller: Caller, pool_id: str, body: Any) -> list[str]:
    wanted = _operation_prefixes(body)
    with svc.db.session() as s:
        row = find(s, caller, pool_id)
        _write_allowed(caller, "update_subnetpool", row)
        current = compact(row.prefixes)
        removal = compact(wanted)
        if not any(a.overlaps(b) for a in current for b in removal):
            return list(row.prefixes)
        allocated = compact(
            s.scalars(select(m.Subnet.cidr).where(m.Subnet.subnetpool_id == row.id))
        )
        if any(a.overlaps(b) for a in allocated for b in removal):
            raise BadRequest(
                "Illegal update to prefixes: One or more the prefixes to be removed is in "
                "use by a subnet in the subnetpool.",
                kind="IllegalSubnetPoolPrefixUpdate",
            )
        remaining = subtract(current, removal)
        if not remaining:
            raise BadRequest("Empty subnet pool prefix list.", kind="EmptySubnetPoolPrefixList")
        row.prefixes = [str(p) for p in remaining]
        touch(row)
        s.flush()
        return list(row.prefixes)


def delete_subnetpool(
    svc: NetworkService, caller: Caller, pool_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, pool_id)
        caller.check("delete_subnetpool", {"project_id": row.project_id})
        check_revision(headers, row)
        in_use = s.scalar(
            select(func.count()).select_from(m.Subnet).where(m.Subnet.subnetpool_id == row.id)
        )
        if in_use:
            # Neutron's answer: 400 SubnetPoolDeleteError
            raise BadRequest(
                "Unable to delete subnet pool: Subnet pool has existing allocations.",
                kind="SubnetPoolDeleteError",
            )
        rbac.drop_all(s, OBJECT_TYPE, row.id)
        tags.drop_many(s, "subnetpools", [row.id])
        s.delete(row)


# -- subnet allocation (used by subnets) ----------------------------------------------------


def default_pool(s: Session, version: int) -> m.SubnetPool | None:
    return s.scalar(
        select(m.SubnetPool)
        .where(m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == version)
        .limit(1)
    )


def allocate(
    s: Session,
    pool: m.SubnetPool,
    project_id: str,
    *,
    wanted: str | None = None,
    prefixlen: int | None = None,
) -> str:
    """The CIDR of a new subnet of ``project_id`` from ``pool``: ``wanted`` when it is
    free in the pool, else the first free prefix of ``prefixlen`` (the pool's default
    length when None). The pool row is locked for the transaction, so concurrent
    allocations from one pool see each other's subnets."""
    s.execute(select(m.SubnetPool.id).where(m.SubnetPool.id == pool.id).with_for_update())
    if wanted is not None:
        prefixlen = ipaddress.ip_network(wanted).prefixlen
    elif prefixlen is None:
        prefixlen = pool.default_prefixlen
    if prefixlen > pool.max_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {prefixlen}, maximum allowed "
            f"prefix is {pool.max_prefixlen}.",
            kind="MaxPrefixSubnetAllocationError",
        )
    if prefixlen < pool.min_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {prefixlen}, minimum allowed "
            f"prefix is {pool.min_prefixlen}.",
            kind="MinPrefixSubnetAllocationError",
        )
    rows = list(
        s.execute(
            select(m.Subnet.cidr, m.Subnet.project_id).where(m.Subnet.subnetpool_id == pool.id)
        )
    )
    if pool.default_quota:
        used = sum(
            quota_units(pool.ip_version, ipaddress.ip_network(c).prefixlen)
            for c, owner in rows
            if owner == project_id
        )
        if used + quota_units(pool.ip_version, prefixlen) > pool.default_quota:
            raise Conflict(
                "Per-tenant subnet pool prefix quota exceeded.", kind="SubnetPoolQuotaExceeded"
            )
    taken = [c for c, _ in rows]
    if wanted is not None:
        if not fits(pool.prefixes, taken, wanted):
            raise BadRequest(
                "Failed to allocate subnet: Cannot allocate requested subnet from the "
                "available set of prefixes.",
                kind="SubnetAllocationError",
            )
        return wanted
    found = pick(pool.prefixes, taken, prefixlen)
    if found is None:
        raise Conflict(
            "Failed to allocate subnet: Insufficient prefix space to allocate subnet size "
            f"/{prefixlen}.",
            kind="SubnetAllocationError",
        )
    return found
