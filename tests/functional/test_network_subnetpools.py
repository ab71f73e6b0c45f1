"""Subnet pools (/network/v2.0/subnetpools) and address scopes
(/network/v2.0/address-scopes) through openstacksdk, the ``openstack subnet pool`` and
``openstack address scope`` CLI and raw HTTP: defaults and bounds, prefix compaction,
add/remove prefixes, subnets allocated from pools (best fit, specific CIDRs, quotas,
the default pool), pools joining scopes, deletion while in use, sharing and isolation,
and Neutron's error shapes."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions as sdk_exc

NETWORKS = "/network/v2.0/networks"
SUBNETS = "/network/v2.0/subnets"
POOLS = "/network/v2.0/subnetpools"
SCOPES = "/network/v2.0/address-scopes"


def error(response, status, kind=None, message=None):
    assert response.status_code == status, response.text
    body = response.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if kind:
        assert body["type"] == kind, body
    if message:
        assert message in body["message"], body
    return body


def fresh_project(http) -> dict[str, Any]:
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return {"id": project["id"], "token": token}


def make_pool(http, token, name, prefixes, **fields):
    body = {"subnetpool": {"name": name, "prefixes": prefixes, **fields}}
    return http.expect(http.post(POOLS, token=token, json=body), 201)["subnetpool"]


def make_scope(http, token, name, ip_version=4, **fields):
    body = {"address_scope": {"name": name, "ip_version": ip_version, **fields}}
    return http.expect(http.post(SCOPES, token=token, json=body), 201)["address_scope"]


def from_pool(http, token, network_id, pool_id, **fields):
    body = {"subnet": {"network_id": network_id, "ip_version": 4, "subnetpool_id": pool_id}}
    body["subnet"].update(fields)
    return http.post(SUBNETS, token=token, json=body)


@pytest.fixture
def net(http, unique):
    body = {"network": {"name": unique("net")}}
    network = http.expect(http.post(NETWORKS, token=http.demo_token, json=body), 201)["network"]
    yield network
    http.delete(f"{NETWORKS}/{network['id']}")


@pytest.fixture
def cleanup(http):
    """Paths to DELETE (as admin) after the test, last made first."""
    paths: list[str] = []
    yield paths
    for path in reversed(paths):
        http.delete(path)


# -- subnet pools ---------------------------------------------------------------------------


def test_pool_lifecycle(demo_conn, unique):
    name = unique("pool")
    pool = demo_conn.network.create_subnet_pool(
        name=name, prefixes=["10.160.0.0/16"], description="d"
    )
    try:
        assert pool.name == name and pool.description == "d"
        assert pool.prefixes == ["10.160.0.0/16"]
        assert pool.ip_version == 4
        assert (pool.minimum_prefix_length, pool.maximum_prefix_length) == (8, 32)
        assert pool.default_prefix_length == 8
        assert pool.is_shared is False and pool.is_default is False
        assert pool.default_quota is None and pool.address_scope_id is None
        assert demo_conn.network.get_subnet_pool(pool.id).name == name
        assert pool.id in [p.id for p in demo_conn.network.subnet_pools()]
        updated = demo_conn.network.update_subnet_pool(
            pool,
            name=name + "-x",
            prefixes=["10.160.0.0/16", "10.161.0.0/16"],
            default_prefix_length=24,
            minimum_prefix_length=20,
        )
        assert updated.name == name + "-x"
        assert updated.prefixes == ["10.160.0.0/15"]
        assert (updated.minimum_prefix_length, updated.default_prefix_length) == (20, 24)
    finally:
        demo_conn.network.delete_subnet_pool(pool)
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.network.get_subnet_pool(pool.id)


def test_pool_view(http, unique, cleanup):
    pool = make_pool(
        http,
        http.demo_token,
        unique("pool"),
        ["fd00:160::/48", "fd00:160:1::/48"],
        min_prefixlen=56,
    )
    cleanup.append(f"{POOLS}/{pool['id']}")
    assert set(pool) == {
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "prefixes",
        "ip_version",
        "default_prefixlen",
        "min_prefixlen",
        "max_prefixlen",
        "shared",
        "is_default",
        "default_quota",
        "address_scope_id",
        "tags",
        "created_at",
        "updated_at",
        "revision_number",
    }
    assert pool["ip_version"] == 6
    assert pool["prefixes"] == ["fd00:160::/47"]
    # Neutron returns the prefix lengths as strings
    assert (pool["min_prefixlen"], pool["default_prefixlen"], pool["max_prefixlen"]) == (
        "56",
        "56",
        "128",
    )


@pytest.mark.parametrize(
    ("fields", "status", "kind", "message"),
    [
        ({"prefixes": []}, 400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list."),
        (
            {"prefixes": ["10.0.0.0/8", "fd00::/8"]},
            400,
            "PrefixVersionMismatch",
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
        ),
        ({"prefixes": ["10.0.0.1/8"]}, 400, None, "'10.0.0.0/8' is recommended"),
        (
            {"min_prefixlen": 24, "max_prefixlen": 16},
            400,
            "IllegalSubnetPoolPrefixBounds",
            "Illegal prefix bounds: min_prefixlen=24, max_prefixlen=16.",
        ),
        (
            {"max_prefixlen": 33},
            400,
            "IllegalSubnetPoolPrefixBounds",
            "max_prefixlen=33, ip_version_max=32",
        ),
        (
            {"default_prefixlen": 4},
            400,
            "IllegalSubnetPoolPrefixBounds",
            "default_prefixlen=4, min_prefixlen=8",
        ),
        ({"min_prefixlen": -1}, 400, None, "should be non-negative"),
        ({"ip_version": 4}, 400, None, "Attribute 'ip_version' not allowed in POST"),
        ({"name": ""}, 400, None, "Invalid input for name"),
        ({"shared": True}, 403, None, None),
        ({"is_default": True}, 403, None, None),
    ],
)
def test_pool_create_rejects(http, unique, fields, status, kind, message):
    body = {"name": unique("bad"), "prefixes": ["10.162.0.0/16"], **fields}
    r = http.post(POOLS, token=http.demo_token, json={"subnetpool": body})
    error(r, status, kind, message)


def test_pool_required_attributes(http):
    r = http.post(POOLS, token=http.demo_token, json={"subnetpool": {"prefixes": ["10.0.0.0/8"]}})
    error(r, 400, None, "Required attribute 'name' not specified")
    r = http.post(POOLS, token=http.demo_token, json={"subnetpool": {"name": "p"}})
    error(r, 400, None, "Required attribute 'prefixes' not specified")


def test_pool_update_rules(http, unique, cleanup):
    pool = make_pool(http, http.demo_token, unique("pool"), ["10.163.0.0/16"])
    url = f"{POOLS}/{pool['id']}"
    cleanup.append(url)
    r = http.put(url, token=http.demo_token, json={"subnetpool": {"prefixes": ["10.163.0.0/17"]}})
    error(r, 400, "IllegalSubnetPoolPrefixUpdate", "Existing prefixes must be a subset")
    r = http.put(url, token=http.demo_token, json={"subnetpool": {"shared": True}})
    error(r, 400, None, "Cannot update read-only attribute shared")
    r = http.put(url, token=http.demo_token, json={"subnetpool": {"min_prefixlen": 30}})
    error(r, 400, "IllegalSubnetPoolPrefixBounds", "default_prefixlen=8, min_prefixlen=30")
    r = http.put(
        url,
        token=http.demo_token,
        headers={"If-Match": "revision_number=3"},
        json={"subnetpool": {"name": "x"}},
    )
    error(r, 412, "RevisionNumberConstraintFailed")


def test_add_and_remove_prefixes(http, net, unique, cleanup):
    pool = make_pool(http, http.demo_token, unique("pool"), ["10.164.0.0/24"], default_prefixlen=26)
    url = f"{POOLS}/{pool['id']}"
    cleanup.append(url)
    r = http.put(f"{url}/add_prefixes", token=http.demo_token, json={"prefixes": ["10.164.1.0/24"]})
    assert http.expect(r, 200) == {"prefixes": ["10.164.0.0/23"]}
    r = http.put(f"{url}/add_prefixes", token=http.demo_token, json={"prefixes": ["10.170.0.0/24"]})
    assert http.expect(r, 200) == {"prefixes": ["10.164.0.0/23", "10.170.0.0/24"]}
    subnet = http.expect(from_pool(http, http.demo_token, net["id"], pool["id"]), 201)["subnet"]
    assert subnet["cidr"] == "10.170.0.0/26"  # the smallest block that fits comes first
    r = http.put(
        f"{url}/remove_prefixes", token=http.demo_token, json={"prefixes": ["10.170.0.0/24"]}
    )
    error(r, 400, "IllegalSubnetPoolPrefixUpdate", "is in use by a subnet in the subnetpool")
    r = http.put(
        f"{url}/remove_prefixes", token=http.demo_token, json={"prefixes": ["10.164.1.0/24"]}
    )
    assert http.expect(r, 200) == {"prefixes": ["10.164.0.0/24", "10.170.0.0/24"]}
    # removing what the pool does not have changes nothing
    r = http.put(f"{url}/remove_prefixes", token=http.demo_token, json={"prefixes": ["1.0.0.0/8"]})
    assert http.expect(r, 200) == {"prefixes": ["10.164.0.0/24", "10.170.0.0/24"]}
    error(http.put(f"{url}/add_prefixes", token=http.demo_token, json={"bad": 1}), 400)
    shown = http.expect(http.get(url, token=http.demo_token), 200)["subnetpool"]
    assert shown["prefixes"] == ["10.164.0.0/24", "10.170.0.0/24"]
    http.expect(http.delete(f"{SUBNETS}/{subnet['id']}"), 204)


def test_allocation_from_pool(http, net, unique, cleanup):
    pool = make_pool(
        http,
        http.demo_token,
        unique("pool"),
        ["10.165.0.0/16"],
        default_prefixlen=24,
        min_prefixlen=20,
        max_prefixlen=28,
    )
    cleanup.append(f"{POOLS}/{pool['id']}")
    token = http.demo_token

    def cidr_of(response):
        subnet = http.expect(response, 201)["subnet"]
        cleanup.append(f"{SUBNETS}/{subnet['id']}")
        assert subnet["subnetpool_id"] == pool["id"]
        return subnet["cidr"]

    assert cidr_of(from_pool(http, token, net["id"], pool["id"])) == "10.165.0.0/24"
    assert cidr_of(from_pool(http, token, net["id"], pool["id"])) == "10.165.1.0/24"
    # best fit: the smallest free block that holds a /25, then a /24
    assert cidr_of(from_pool(http, token, net["id"], pool["id"], prefixlen=25)) == "10.165.2.0/25"
    assert cidr_of(from_pool(http, token, net["id"], pool["id"], prefixlen=24)) == "10.165.3.0/24"
    # a specific CIDR inside the pool, and a gateway alone naming one
    specific = from_pool(http, token, net["id"], pool["id"], cidr="10.165.9.0/24")
    assert cidr_of(specific) == "10.165.9.0/24"
    around = from_pool(http, token, net["id"], pool["id"], gateway_ip="10.165.10.1")
    assert cidr_of(around) == "10.165.10.0/24"

    r = from_pool(http, token, net["id"], pool["id"], cidr="10.165.9.0/25")
    error(r, 400, "SubnetAllocationError", "Cannot allocate requested subnet")
    r = from_pool(http, token, net["id"], pool["id"], cidr="10.99.0.0/24")
    error(r, 400, "SubnetAllocationError")
    r = from_pool(http, token, net["id"], pool["id"], prefixlen=29)
    error(r, 400, "MaxPrefixSubnetAllocationError", "maximum allowed prefix is 28")
    r = from_pool(http, token, net["id"], pool["id"], prefixlen=16)
    error(r, 400, "MinPrefixSubnetAllocationError", "minimum allowed prefix is 20")
    r = from_pool(
        http,
        token,
        net["id"],
        pool["id"],
        allocation_pools=[{"start": "10.165.20.2", "end": "10.165.20.9"}],
    )
    error(r, 400, "BadRequest", "allocation_pools allowed only for specific subnet requests")
    r = from_pool(http, token, net["id"], pool["id"], ip_version=6)
    error(r, 400, "BadRequest", "Cannot allocate IPv6 subnet from IPv4 subnet pool")
    missing = "4c5b3b1c-6a5e-4b21-9f4b-6a0e9c1d2e3f"
    error(from_pool(http, token, net["id"], missing), 404, "SubnetPoolNotFound")
    # a network's IPv4 subnets all come from one pool
    body = {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.166.0.0/24"}}
    r = http.post(SUBNETS, token=token, json=body)
    error(r, 400, "NetworkSubnetPoolAffinityError")


def test_pool_exhaustion_and_quota(http, net, unique, cleanup):
    pool = make_pool(
        http,
        http.demo_token,
        unique("pool"),
        ["10.167.0.0/23"],
        default_prefixlen=24,
        default_quota=256,
    )
    cleanup.append(f"{POOLS}/{pool['id']}")
    first = http.expect(from_pool(http, http.demo_token, net["id"], pool["id"]), 201)["subnet"]
    cleanup.append(f"{SUBNETS}/{first['id']}")
    # 256 addresses (one /24) is the project's quota in this pool
    r = from_pool(http, http.demo_token, net["id"], pool["id"])
    error(r, 409, "SubnetPoolQuotaExceeded", "Per-tenant subnet pool prefix quota exceeded.")
    http.expect(
        http.put(f"{POOLS}/{pool['id']}", json={"subnetpool": {"default_quota": None}}), 200
    )
    second = http.expect(from_pool(http, http.demo_token, net["id"], pool["id"]), 201)["subnet"]
    cleanup.append(f"{SUBNETS}/{second['id']}")
    r = from_pool(http, http.demo_token, net["id"], pool["id"])
    error(r, 409, "SubnetAllocationError", "Insufficient prefix space to allocate subnet size /24")


def test_pool_in_use_cannot_go(http, net, unique):
    pool = make_pool(http, http.demo_token, unique("pool"), ["10.168.0.0/16"], default_prefixlen=24)
    subnet = http.expect(from_pool(http, http.demo_token, net["id"], pool["id"]), 201)["subnet"]
    r = http.delete(f"{POOLS}/{pool['id']}", token=http.demo_token)
    error(r, 400, "SubnetPoolDeleteError", "Subnet pool has existing allocations")
    http.expect(http.delete(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 204)
    http.expect(http.delete(f"{POOLS}/{pool['id']}", token=http.demo_token), 204)


def test_default_pool(http, net, unique, cleanup):
    token = http.demo_token
    body = {"network_id": net["id"], "ip_version": 4, "use_default_subnetpool": True}
    r = http.post(SUBNETS, token=token, json={"subnet": body})
    error(r, 400, "BadRequest", "No default subnetpool found for IPv4")
    pool = make_pool(
        http,
        http.admin_token,
        unique("default"),
        ["10.169.0.0/16"],
        default_prefixlen=26,
        is_default=True,
        shared=True,
    )
    cleanup.append(f"{POOLS}/{pool['id']}")
    assert pool["is_default"] is True and pool["shared"] is True
    r = http.post(
        POOLS,
        json={
            "subnetpool": {"name": unique("p2"), "prefixes": ["10.171.0.0/16"], "is_default": True}
        },
    )
    error(r, 400, "InvalidInput", "A default subnetpool for this IP family has already been set")
    subnet = http.expect(http.post(SUBNETS, token=token, json={"subnet": body}), 201)["subnet"]
    cleanup.append(f"{SUBNETS}/{subnet['id']}")
    assert subnet["subnetpool_id"] == pool["id"] and subnet["cidr"] == "10.169.0.0/26"
    both = {**body, "subnetpool_id": pool["id"]}
    r = http.post(SUBNETS, token=token, json={"subnet": both})
    error(r, 400, "BadRequest", "cannot both be specified")
    # only an admin makes a pool the default
    r = http.put(f"{POOLS}/{pool['id']}", token=token, json={"subnetpool": {"is_default": False}})
    error(r, 404, "SubnetPoolNotFound")


def test_pool_isolation_and_sharing(http, net, unique, cleanup):
    mine = make_pool(http, http.demo_token, unique("mine"), ["10.172.0.0/16"])
    cleanup.append(f"{POOLS}/{mine['id']}")
    other = fresh_project(http)
    url = f"{POOLS}/{mine['id']}"
    error(http.get(url, token=other["token"]), 404, "SubnetPoolNotFound")
    error(http.put(url, token=other["token"], json={"subnetpool": {"name": "x"}}), 404)
    error(http.delete(url, token=other["token"]), 404, "SubnetPoolNotFound")
    error(http.put(f"{url}/add_prefixes", token=other["token"], json={"prefixes": []}), 404)
    listed = http.expect(http.get(POOLS, token=other["token"]), 200)["subnetpools"]
    assert mine["id"] not in [p["id"] for p in listed]

    shared = make_pool(
        http,
        http.admin_token,
        unique("shared"),
        ["10.173.0.0/16"],
        shared=True,
        default_prefixlen=24,
    )
    cleanup.append(f"{POOLS}/{shared['id']}")
    seen = http.expect(http.get(f"{POOLS}/{shared['id']}", token=other["token"]), 200)
    assert seen["subnetpool"]["shared"] is True
    # demo may allocate from it, but not change or delete it
    subnet = http.expect(from_pool(http, http.demo_token, net["id"], shared["id"]), 201)["subnet"]
    cleanup.append(f"{SUBNETS}/{subnet['id']}")
    r = http.put(
        f"{POOLS}/{shared['id']}", token=http.demo_token, json={"subnetpool": {"name": "x"}}
    )
    error(r, 404, "SubnetPoolNotFound")
    error(http.delete(f"{POOLS}/{shared['id']}", token=http.demo_token), 403)


def test_pool_tags(http, unique, cleanup):
    pool = make_pool(http, http.demo_token, unique("pool"), ["10.174.0.0/16"])
    cleanup.append(f"{POOLS}/{pool['id']}")
    http.expect(http.put(f"{POOLS}/{pool['id']}/tags/blue", token=http.demo_token), 201)
    found = http.expect(http.get(f"{POOLS}?tags=blue", token=http.demo_token), 200)
    assert [p["id"] for p in found["subnetpools"]] == [pool["id"]]


def test_pool_cli(run_cli, unique):
    name = unique("clipool")
    made = run_cli(
        "subnet",
        "pool",
        "create",
        "--pool-prefix",
        "10.175.0.0/16",
        "--default-prefix-length",
        "24",
        "--max-prefix-length",
        "28",
        name,
        cloud="nubo-demo",
    )
    try:
        assert made["prefixes"] == ["10.175.0.0/16"]
        assert str(made["default_prefixlen"]) == "24"
        listed = run_cli("subnet", "pool", "list", "--name", name, cloud="nubo-demo")
        assert [p["Name"] for p in listed] == [name]
        run_cli("subnet", "pool", "set", "--pool-prefix", "10.176.0.0/16", name, cloud="nubo-demo")
        shown = run_cli("subnet", "pool", "show", name, cloud="nubo-demo")
        assert sorted(shown["prefixes"]) == ["10.175.0.0/16", "10.176.0.0/16"]
        network = unique("clinet")
        run_cli("network", "create", network, cloud="nubo-demo")
        try:
            subnet = run_cli(
                "subnet",
                "create",
                "--network",
                network,
                "--subnet-pool",
                name,
                "--prefix-length",
                "26",
                unique("clisub"),
                cloud="nubo-demo",
            )
            assert subnet["cidr"] == "10.175.0.0/26"
        finally:
            run_cli("network", "delete", network, cloud="nubo-demo")
    finally:
        run_cli("subnet", "pool", "delete", name, cloud="nubo-demo")


# -- address scopes --------------------------------------------------------------------------


def test_scope_lifecycle(demo_conn, unique):
    name = unique("scope")
    scope = demo_conn.network.create_address_scope(name=name, ip_version=4)
    try:
        assert scope.name == name and scope.ip_version == 4 and scope.is_shared is False
        assert demo_conn.network.get_address_scope(scope.id).name == name
        assert scope.id in [s.id for s in demo_conn.network.address_scopes()]
        updated = demo_conn.network.update_address_scope(scope, name=name + "-x")
        assert updated.name == name + "-x"
    finally:
        demo_conn.network.delete_address_scope(scope)
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.network.get_address_scope(scope.id)


def test_scope_view_and_errors(http, unique, cleanup):
    scope = make_scope(http, http.demo_token, unique("scope"), 6)
    cleanup.append(f"{SCOPES}/{scope['id']}")
    assert set(scope) == {"id", "name", "tenant_id", "project_id", "shared", "ip_version"}
    r = http.post(SCOPES, token=http.demo_token, json={"address_scope": {"name": "x"}})
    error(r, 400, None, "Required attribute 'ip_version' not specified")
    body = {"address_scope": {"name": "x", "ip_version": 5}}
    error(http.post(SCOPES, token=http.demo_token, json=body), 400, None, "ip_version")
    body = {"address_scope": {"name": "x", "ip_version": 4, "shared": True}}
    error(http.post(SCOPES, token=http.demo_token, json=body), 403)
    url = f"{SCOPES}/{scope['id']}"
    r = http.put(url, token=http.demo_token, json={"address_scope": {"ip_version": 4}})
    error(r, 400, None, "Cannot update read-only attribute ip_version")
    other = fresh_project(http)
    error(http.get(url, token=other["token"]), 404, "AddressScopeNotFound")
    error(http.delete(url, token=other["token"]), 404, "AddressScopeNotFound")
    listed = http.expect(http.get(SCOPES, token=other["token"]), 200)["address_scopes"]
    assert scope["id"] not in [s["id"] for s in listed]


def test_shared_scope(http, unique, cleanup):
    scope = make_scope(http, http.admin_token, unique("shared"), 4, shared=True)
    cleanup.append(f"{SCOPES}/{scope['id']}")
    assert scope["shared"] is True
    seen = http.expect(http.get(f"{SCOPES}/{scope['id']}", token=http.demo_token), 200)
    assert seen["address_scope"]["shared"] is True
    r = http.put(f"{SCOPES}/{scope['id']}", json={"address_scope": {"shared": False}})
    error(r, 400, "AddressScopeUpdateError", "Shared address scope can't be unshared")
    r = http.put(
        f"{SCOPES}/{scope['id']}", token=http.demo_token, json={"address_scope": {"name": "x"}}
    )
    error(r, 404, "AddressScopeNotFound")
    error(http.delete(f"{SCOPES}/{scope['id']}", token=http.demo_token), 403)
    # a demo pool may join the shared scope
    pool = make_pool(
        http, http.demo_token, unique("pool"), ["10.177.0.0/16"], address_scope_id=scope["id"]
    )
    cleanup.append(f"{POOLS}/{pool['id']}")
    assert pool["address_scope_id"] == scope["id"]


def test_pools_in_a_scope(http, net, unique, cleanup):
    scope = make_scope(http, http.demo_token, unique("scope"), 4)
    cleanup.append(f"{SCOPES}/{scope['id']}")
    v6 = make_scope(http, http.demo_token, unique("scope6"), 6)
    cleanup.append(f"{SCOPES}/{v6['id']}")
    one = make_pool(
        http,
        http.demo_token,
        unique("one"),
        ["10.178.0.0/16"],
        address_scope_id=scope["id"],
        default_prefixlen=24,
    )
    cleanup.append(f"{POOLS}/{one['id']}")
    # prefixes in one scope are unique
    body = {
        "subnetpool": {
            "name": unique("two"),
            "prefixes": ["10.178.128.0/17"],
            "address_scope_id": scope["id"],
        }
    }
    r = http.post(POOLS, token=http.demo_token, json=body)
    error(r, 409, "AddressScopePrefixConflict", "subnetpools within an address scope")
    two = make_pool(
        http,
        http.demo_token,
        unique("two"),
        ["10.179.0.0/16"],
        address_scope_id=scope["id"],
        default_prefixlen=24,
    )
    cleanup.append(f"{POOLS}/{two['id']}")
    # a scope of the other IP version, or one that does not exist
    r = http.put(
        f"{POOLS}/{two['id']}",
        token=http.demo_token,
        json={"subnetpool": {"address_scope_id": v6["id"]}},
    )
    error(r, 400, "IllegalSubnetPoolIpVersionAssociationToAddressScope")
    missing = "4c5b3b1c-6a5e-4b21-9f4b-6a0e9c1d2e3f"
    r = http.put(
        f"{POOLS}/{two['id']}",
        token=http.demo_token,
        json={"subnetpool": {"address_scope_id": missing}},
    )
    error(r, 404, "AddressScopeNotFound")
    # subnets of two pools of one scope may share a network
    for pool in (one, two):
        subnet = http.expect(from_pool(http, http.demo_token, net["id"], pool["id"]), 201)
        cleanup.append(f"{SUBNETS}/{subnet['subnet']['id']}")
    network = http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]
    assert "ipv4_address_scope" in network
    # a scope with pools cannot go
    r = http.delete(f"{SCOPES}/{scope['id']}", token=http.demo_token)
    error(r, 409, "AddressScopeInUse", "one or more subnet pools in use on the address scope")


def test_scope_cli(run_cli, unique):
    name = unique("cliscope")
    made = run_cli("address", "scope", "create", "--ip-version", "6", name, cloud="nubo-demo")
    try:
        assert made["ip_version"] == 6 and made["name"] == name
        listed = run_cli("address", "scope", "list", cloud="nubo-demo")
        assert name in [s["Name"] for s in listed]
        run_cli("address", "scope", "set", "--name", name + "-x", name, cloud="nubo-demo")
        shown = run_cli("address", "scope", "show", name + "-x", cloud="nubo-demo")
        assert shown["id"] == made["id"]
    finally:
        run_cli("address", "scope", "delete", made["id"], cloud="nubo-demo")
