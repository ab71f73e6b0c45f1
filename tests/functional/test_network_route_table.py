"""Every network route, driven from the route table itself (routes added by any
resource module show up here without editing this file).

* Isolation: the demo user calls every route that names a resource with the id of a
  resource the admin project owns (private, not shared): each answers 404 (never
  403, which would confirm the resource exists, nor a 5xx), and the resource is
  untouched afterwards. A project's quotas are the exception: Neutron answers 403
  there, since a project id is not a secret resource.
* Robustness: the admin sends every write route bodies of the wrong shape, of the
  wrong content type and with attributes of the wrong type, and every list route
  hostile query strings and ids. Nothing may answer with a 5xx.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nubo.config import Config
from nubo.db.engine import Database
from nubo.network import agents
from nubo.network.api import build_service
from nubo.network.service import NetworkService

ROUTES = build_service().router.routes
PARAM = re.compile(r"^\{(\w+)\}$")
V2 = "/network"

# collection -> the key of one of its resources in bodies
SINGULAR = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "routers": "router",
    "floatingips": "floatingip",
    "security-groups": "security_group",
    "security-group-rules": "security_group_rule",
    "subnetpools": "subnetpool",
    "address-scopes": "address_scope",
    "rbac-policies": "rbac_policy",
    "agents": "agent",
    "quotas": "quota",
    "port_forwardings": "port_forwarding",
    "network-ip-availabilities": "network_ip_availability",
}
# collections whose ids are not resources of a project
NOT_OWNED = {"extensions"}
# where Neutron answers another project's caller with 403 instead of 404
FORBIDDEN_NOT_HIDDEN = {"quotas"}
# a valid change for the update route of each resource (its name otherwise)
UPDATES: dict[str, dict[str, Any]] = {
    "rbac_policy": {"target_tenant": "someone-else"},
    "quota": {"network": 5},
    "agent": {"description": "x"},
    "floatingip": {"description": "x"},
    "port_forwarding": {"description": "x"},
    "security_group_rule": {},
}
# well-formed bodies of action and sub-collection routes, by the path's last literal
ACTIONS: dict[str, Any] = {
    "tags": {"tags": ["t"]},
    "add_router_interface": {"subnet_id": str(uuid.uuid4())},
    "remove_router_interface": {"subnet_id": str(uuid.uuid4())},
    "add_extraroutes": {"router": {"routes": []}},
    "remove_extraroutes": {"router": {"routes": []}},
    "add_prefixes": {"prefixes": ["10.9.0.0/24"]},
    "remove_prefixes": {"prefixes": ["10.9.0.0/24"]},
}


def segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def collection_of(path: str) -> str | None:
    """The first collection a route names (``/v2.0/<collection>/...``)."""
    parts = segments(path)
    return parts[1] if len(parts) > 1 and not PARAM.match(parts[1]) else None


def fill(path: str, ids: dict[str, str], tagged: str = "networks") -> str:
    """The route's path with each id replaced: the id of the admin's resource of the
    collection the parameter follows, any fresh id where there is none."""
    out: list[str] = []
    previous = ""
    for part in segments(path):
        match = PARAM.match(part)
        if not match:
            out.append(part)
            previous = part
            continue
        is_collection = match.group(1) == "collection"
        value = tagged if is_collection else ids.get(previous) or str(uuid.uuid4())
        out.append(value)
        previous = value if is_collection else part
    return V2 + "/" + "/".join(out)


def valid_body(path: str) -> tuple[bytes | None, bool]:
    """A well-formed body for a write route, and whether it is surely well-formed
    (for the update route of a known resource or a known action)."""
    parts = segments(path)
    last = parts[-1]
    if PARAM.match(last):
        literal = parts[-2]
        if literal == "tags":
            return None, True
        key = SINGULAR.get(literal)
        if key is None:
            return b"{}", False
        return json.dumps({key: UPDATES.get(key, {"name": "x"})}).encode(), True
    if last in ACTIONS:
        return json.dumps(ACTIONS[last]).encode(), True
    key = SINGULAR.get(last)
    return json.dumps({key: {"description": "x"}} if key else {}).encode(), False


# -- the admin project's resources -------------------------------------------------


@pytest.fixture(scope="module")
def live_network(cloud) -> Iterator[NetworkService]:
    """The network service layer on the running cloud's database (to seed an agent,
    as a host's network agent would)."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield NetworkService(cfg, db, None)  # type: ignore[arg-type]
    finally:
        db.dispose()


def _create(http, collection: str, body: dict[str, Any]) -> str | None:
    """Create as admin; None when the collection does not exist (yet) here."""
    r = http.post(f"{V2}/v2.0/{collection}", json={SINGULAR[collection]: body})
    if r.status_code != 201:
        return None
    return str(r.json()[SINGULAR[collection]]["id"])


@pytest.fixture(scope="module")
def admin_ids(http, live_network, unique) -> Iterator[dict[str, str]]:
    """collection -> id of a private resource of the admin project."""
    ids: dict[str, str] = {}
    made: list[tuple[str, str]] = []

    def make(collection: str, body: dict[str, Any]) -> str | None:
        made_id = _create(http, collection, body)
        if made_id:
            ids.setdefault(collection, made_id)
            made.append((collection, made_id))
        return made_id

    net = make("networks", {"name": unique("rt-private")})
    assert net, "the admin could not create a network"
    ids["network-ip-availabilities"] = net
    subnet = make(
        "subnets", {"network_id": net, "cidr": "10.251.0.0/24", "ip_version": 4, "name": "rt"}
    )
    make("ports", {"network_id": net, "name": "rt"})
    make("routers", {"name": unique("rt")})
    sg = make("security-groups", {"name": unique("rt")})
    if sg:
        make(
            "security-group-rules",
            {"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
             "port_range_min": 2222, "port_range_max": 2222},
        )  # fmt: skip
    make("subnetpools", {"name": unique("rt"), "prefixes": ["10.252.0.0/16"],
                         "default_prefixlen": 24})  # fmt: skip
    make("address-scopes", {"name": unique("rt"), "ip_version": 4})
    make(
        "rbac-policies",
        {"object_type": "network", "object_id": net, "action": "access_as_shared",
         "target_tenant": uuid.uuid4().hex},
    )  # fmt: skip
    # a floating IP of the admin's on an external network (visible to all)
    ext = make("networks", {"name": unique("rt-ext"), "router:external": True})
    if ext and make(
        "subnets", {"network_id": ext, "cidr": "203.0.113.0/24", "ip_version": 4,
                    "enable_dhcp": False},
    ):  # fmt: skip
        make("floatingips", {"floating_network_id": ext})
    ids["agents"] = agents.heartbeat(
        live_network, unique("rt-host"), "DHCP agent", "nubo-network-agent", {}
    )
    admin_project = http.expect(http.get(f"{V2}/v2.0/quotas/project"), 200)["project"]
    ids["quotas"] = admin_project["project_id"]
    assert subnet is None or ids["subnets"] == subnet
    yield ids
    http.delete(f"{V2}/v2.0/agents/{ids['agents']}")
    for collection, made_id in reversed(made):
        http.delete(f"{V2}/v2.0/{collection}/{made_id}")


def _snapshot(http, ids: dict[str, str]) -> dict[str, Any]:
    """What the admin sees of each of its resources."""
    seen = {}
    for collection, made_id in ids.items():
        if collection in ("quotas", "network-ip-availabilities"):
            continue
        r = http.get(f"{V2}/v2.0/{collection}/{made_id}")
        if r.status_code == 200:
            item = r.json()[SINGULAR[collection]]
            keys = ("id", "name", "description", "target_tenant", "revision_number")
            seen[collection] = {k: item.get(k) for k in keys}
    return seen


# -- isolation -------------------------------------------------------------------------


def _isolation_cases() -> list[tuple[Any, str]]:
    cases = []
    for route in ROUTES:
        if not any(PARAM.match(p) for p in segments(route.path)):
            continue  # a collection: what it lists is checked per resource
        if collection_of(route.path) in NOT_OWNED:
            continue
        if segments(route.path)[1] == "{collection}":
            for tagged in ("networks", "subnets", "ports", "routers", "subnetpools",
                           "security-groups", "floatingips"):  # fmt: skip
                cases.append((route, tagged))
        else:
            cases.append((route, ""))
    return cases


@pytest.mark.parametrize(
    ("route", "tagged"),
    _isolation_cases(),
    ids=lambda v: v if isinstance(v, str) else f"{v.method} {v.path}",
)
def test_another_projects_resource_is_invisible(http, admin_ids, route, tagged):
    before = _snapshot(http, admin_ids)
    path = fill(route.path, admin_ids, tagged or "networks")
    body, sure = valid_body(route.path) if route.method in ("POST", "PUT") else (None, True)
    r = http.request(
        route.method,
        path,
        token=http.demo_token,
        content=body,
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    collection = collection_of(route.path)
    # a body the route validates before looking the resource up may be refused first;
    # that says nothing about the resource either
    expected = {404} if sure else {400, 404}
    if collection in FORBIDDEN_NOT_HIDDEN:
        expected = {403}
    assert r.status_code in expected, f"{route.method} {path}: {r.status_code} {r.text}"
    error = r.json()["NeutronError"]
    assert set(error) == {"type", "message", "detail"}
    assert _snapshot(http, admin_ids) == before


# -- robustness ---------------------------------------------------------------------------

BAD_BODIES = [b"", b"{", b"[]", b"{}", b'"x"', b"null", b"1e999999", b'{"a": [1, {"b": null}]}',
              b'{"x": "\xff"}']  # fmt: skip
# attributes of many resources, each with a value of the wrong type or shape
WRONG_TYPES: list[tuple[str, Any]] = [
    ("name", 5), ("name", ["x"]), ("description", {}), ("admin_state_up", "maybe"),
    ("admin_state_up", None), ("network_id", 5), ("network_id", "not-a-uuid"),
    ("subnet_id", ["x"]), ("cidr", 5), ("cidr", "10.0.0.0/99"), ("ip_version", "four"),
    ("gateway_ip", 5), ("allocation_pools", "x"), ("allocation_pools", [{"start": 5}]),
    ("host_routes", [5]), ("dns_nameservers", 5), ("fixed_ips", "x"), ("fixed_ips", [5]),
    ("fixed_ips", [{"ip_address": 5}]), ("mac_address", 5), ("security_groups", "x"),
    ("security_groups", [5]), ("allowed_address_pairs", [{"ip_address": None}]),
    ("tags", "x"), ("mtu", "big"), ("mtu", 10**30), ("shared", "x"),
    ("router:external", []), ("provider:segmentation_id", "x"),
    ("external_gateway_info", "x"), ("external_gateway_info", {"network_id": 5}),
    ("routes", "x"), ("routes", [{"destination": 5}]), ("prefixes", "x"),
    ("prefixes", [5]), ("default_prefixlen", "x"), ("protocol", 5),
    ("port_range_min", "x"), ("port_range_max", 10**30), ("direction", 5),
    ("ethertype", 5), ("remote_ip_prefix", 5), ("security_group_id", 5),
    ("floating_network_id", {}), ("port_id", 5), ("fixed_ip_address", 5),
    ("object_type", 5), ("object_id", 5), ("action", 5), ("target_tenant", 5),
    ("target_tenant", None), ("network", "x"), ("port", None), ("check_limit", "x"),
    ("project_id", 5), ("binding:profile", "x"), ("extra_dhcp_opts", "x"),
    ("port_security_enabled", "x"), ("stateful", "x"), ("ip_address", 5),
]  # fmt: skip
WRITES = [r for r in ROUTES if r.method in ("POST", "PUT")]
LISTS = [r for r in ROUTES if r.method == "GET" and "{" not in r.path]
HOSTILE_QUERIES = [
    "limit=x", "limit=-1", "limit=99999999999999999999", "limit=1&marker=nope",
    "limit=1&marker=%00", "limit=1&page_reverse=maybe", "sort_key=nope",
    "sort_key=id&sort_dir=sideways", "sort_key=id&sort_key=name&sort_dir=asc",
    "fields=nope", "fields=", "shared=maybe", "admin_state_up=maybe", "tags=",
    "not-tags-any=%2C", "id=%00", "name=%00", "verbose=x", "x" * 3000 + "=1",
]  # fmt: skip


def _body_key(route) -> str | None:
    parts = [p for p in segments(route.path) if not PARAM.match(p)]
    for part in reversed(parts):
        if part in SINGULAR:
            return SINGULAR[part]
    return None


@pytest.mark.parametrize("route", WRITES, ids=lambda r: f"{r.method} {r.path}")
def test_malformed_bodies_never_5xx(http, admin_ids, route):
    path = fill(route.path, admin_ids)
    for body in BAD_BODIES:
        for ctype in ("application/json", "text/plain"):
            r = http.request(route.method, path, content=body, headers={"Content-Type": ctype})
            assert r.status_code < 500, f"{route.method} {path} {body!r}: {r.text}"
    key = _body_key(route)
    if key is None:
        return
    collection = next(k for k, v in SINGULAR.items() if v == key)
    shapes = [{key: []}, {key: "x"}, {key: None}, {collection: "x"}, {collection: [1]},
              {collection: []}, {key: {"id": 5}}]  # fmt: skip
    shapes += [{key: {attr: value}} for attr, value in WRONG_TYPES]
    for shape in shapes:
        r = http.request(route.method, path, json=shape)
        assert r.status_code < 500, f"{route.method} {path} {shape}: {r.status_code} {r.text}"


@pytest.mark.parametrize("route", LISTS, ids=lambda r: f"{r.method} {r.path}")
def test_hostile_queries_never_5xx(http, route):
    for query in HOSTILE_QUERIES:
        for token in (http.admin_token, http.demo_token):
            r = http.get(f"{V2}{route.path}?{query}", token=token)
            assert r.status_code < 500, f"GET {route.path}?{query}: {r.status_code} {r.text}"


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if any(PARAM.match(p) for p in segments(r.path))],
    ids=lambda r: f"{r.method} {r.path}",
)
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "x" * 400, "%00", "%C3%A9", "..%2F"])
def test_hostile_ids_never_5xx(http, route, bad_id):
    path = "/".join(bad_id if PARAM.match(p) else p for p in route.path.split("/"))
    body = b"{}" if route.method in ("POST", "PUT") else None
    r = http.request(route.method, V2 + path, content=body)
    assert r.status_code < 500, f"{route.method} {path}: {r.status_code} {r.text}"
