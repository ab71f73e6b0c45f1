"""Flavors (/compute/v2.1/flavors) through openstacksdk, the ``openstack flavor`` CLI and
raw HTTP: the default flavors, bodies at each microversion that changes them, create
validation and conflicts, private flavors and their access lists, filters, sorting and
pages, extra specs (with 2.86's validation), description updates, and Nova's error
shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from .compute import nova_error, v

FLAVORS = "/compute/v2.1/flavors"


@pytest.fixture
def make_flavor(http, unique) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create flavors as admin (raw HTTP); deleted after the test."""
    made: list[str] = []

    def make(version: str = "2.1", **fields: Any) -> dict[str, Any]:
        body = {"name": unique("flv"), "ram": 64, "vcpus": 1, "disk": 1, **fields}
        r = http.post(FLAVORS, json={"flavor": body}, headers=v(version))
        flavor: dict[str, Any] = http.expect(r, 200)["flavor"]
        made.append(flavor["id"])
        return flavor

    yield make
    for flavor_id in made:
        http.delete(f"{FLAVORS}/{flavor_id}")


# -- the defaults and the body at each microversion ----------------------------------------


def test_default_flavors_are_there_for_everyone(http):
    listed = http.expect(http.get(f"{FLAVORS}/detail", token=http.demo_token), 200)["flavors"]
    by_name = {f["name"]: f for f in listed}
    expected = {
        "m1.tiny": ("1", 512, 1, 1),
        "m1.small": ("2", 2048, 1, 20),
        "m1.medium": ("3", 4096, 2, 40),
        "m1.large": ("4", 8192, 4, 80),
        "m1.xlarge": ("5", 16384, 8, 160),
        "m1.nano": ("42", 128, 1, 1),
        "m1.micro": ("84", 192, 1, 1),
    }
    for name, (flavor_id, ram, vcpus, disk) in expected.items():
        flavor = by_name[name]
        assert (flavor["id"], flavor["ram"], flavor["vcpus"], flavor["disk"]) == (
            flavor_id, ram, vcpus, disk,
        )  # fmt: skip
        assert flavor["os-flavor-access:is_public"] is True
        assert flavor["OS-FLV-DISABLED:disabled"] is False


def test_body_at_each_microversion(http, make_flavor):
    flavor_id = make_flavor()["id"]
    base = http.cloud.base_url + "/compute"
    old = http.expect(http.get(f"{FLAVORS}/{flavor_id}"), 200)["flavor"]
    assert old["swap"] == "" and old["rxtx_factor"] == 1.0
    assert old["OS-FLV-EXT-DATA:ephemeral"] == 0
    assert "description" not in old and "extra_specs" not in old
    assert old["links"] == [
        {"rel": "self", "href": f"{base}/v2.1/flavors/{flavor_id}"},
        {"rel": "bookmark", "href": f"{base}/flavors/{flavor_id}"},
    ]
    v255 = http.expect(http.get(f"{FLAVORS}/{flavor_id}", headers=v("2.55")), 200)["flavor"]
    assert v255["description"] is None and "extra_specs" not in v255
    v261 = http.expect(http.get(f"{FLAVORS}/{flavor_id}", headers=v("2.61")), 200)["flavor"]
    assert v261["extra_specs"] == {} and v261["swap"] == ""
    v275 = http.expect(http.get(f"{FLAVORS}/{flavor_id}", headers=v("2.75")), 200)["flavor"]
    assert v275["swap"] == 0
    brief = http.expect(http.get(FLAVORS, headers=v("2.55")), 200)["flavors"]
    entry = next(f for f in brief if f["id"] == flavor_id)
    assert set(entry) == {"id", "name", "links", "description"}
    old_brief = http.expect(http.get(FLAVORS), 200)["flavors"]
    assert set(next(f for f in old_brief if f["id"] == flavor_id)) == {"id", "name", "links"}


def test_create_with_every_field(http, make_flavor, unique):
    flavor = make_flavor(
        "2.75",
        id="custom.id_1",
        ram="256",
        vcpus="2",
        disk=3,
        swap=128,
        rxtx_factor="2.5",
        **{"OS-FLV-EXT-DATA:ephemeral": 4, "os-flavor-access:is_public": "false"},
    )
    assert flavor["id"] == "custom.id_1"
    assert (flavor["ram"], flavor["vcpus"], flavor["disk"], flavor["swap"]) == (256, 2, 3, 128)
    assert flavor["OS-FLV-EXT-DATA:ephemeral"] == 4 and flavor["rxtx_factor"] == 2.5
    assert flavor["os-flavor-access:is_public"] is False
    numeric = make_flavor(id=12345)
    assert numeric["id"] == "12345"
    generated = make_flavor("2.55", description="small and quick")
    assert len(generated["id"]) == 36 and generated["description"] == "small and quick"


# -- validation, conflicts, permissions ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "drop", "version", "needle"),
    [
        ({}, "ram", "2.1", "ram"),
        ({}, "name", "2.1", "name"),
        ({"ram": 0}, None, "2.1", "ram"),
        ({"vcpus": "two"}, None, "2.1", "vcpus"),
        ({"vcpus": 1.5}, None, "2.1", "vcpus"),
        ({"disk": -1}, None, "2.1", "disk"),
        ({"ram": 2**31}, None, "2.1", "ram"),
        ({"swap": -1}, None, "2.1", "swap"),
        ({"OS-FLV-EXT-DATA:ephemeral": "x"}, None, "2.1", "ephemeral"),
        ({"rxtx_factor": 0}, None, "2.1", "rxtx_factor"),
        ({"os-flavor-access:is_public": "maybe"}, None, "2.1", "is_public"),
        ({"name": " lead"}, None, "2.1", "name"),
        ({"name": "x" * 256}, None, "2.1", "name"),
        ({"name": "bad\nline"}, None, "2.1", "name"),
        ({"id": "has/slash"}, None, "2.1", "id"),
        ({"id": ""}, None, "2.1", "id"),
        ({"bogus": 1}, None, "2.1", "bogus"),
        ({"description": "x"}, None, "2.54", "description"),
        ({"description": "a\x00b"}, None, "2.55", "description"),
    ],
)
def test_create_validation(http, unique, fields, drop, version, needle):
    body = {"name": unique("bad"), "ram": 64, "vcpus": 1, "disk": 1, **fields}
    if drop:
        body.pop(drop)
    r = http.post(FLAVORS, json={"flavor": body}, headers=v(version))
    assert needle in nova_error(r, 400, "badRequest")


@pytest.mark.parametrize("body", [{}, [], {"flavor": 5}, {"flavors": {}}])
def test_malformed_create_bodies(http, body):
    nova_error(http.post(FLAVORS, json=body), 400, "badRequest")


def test_duplicate_name_or_id_is_409(http, make_flavor, unique):
    flavor = make_flavor(id=unique("dup"))
    same_name = {"name": flavor["name"], "ram": 64, "vcpus": 1, "disk": 1}
    nova_error(
        http.post(FLAVORS, json={"flavor": same_name}),
        409,
        "conflictingRequest",
        f"Flavor with name {flavor['name']} already exists.",
    )
    same_id = {"name": unique("other"), "id": flavor["id"], "ram": 64, "vcpus": 1, "disk": 1}
    nova_error(
        http.post(FLAVORS, json={"flavor": same_id}),
        409,
        "conflictingRequest",
        f"Flavor with ID {flavor['id']} already exists.",
    )


def test_members_cannot_manage_flavors(http, make_flavor, unique):
    token = http.demo_token
    body = {"flavor": {"name": unique("x"), "ram": 64, "vcpus": 1, "disk": 1}}
    nova_error(http.post(FLAVORS, json=body, token=token), 403, "forbidden", "os-flavor-manage")
    flavor = make_flavor()
    nova_error(http.delete(f"{FLAVORS}/{flavor['id']}", token=token), 403, "forbidden")
    r = http.put(
        f"{FLAVORS}/{flavor['id']}",
        json={"flavor": {"description": "x"}},
        token=token,
        headers=v("2.55"),
    )
    nova_error(r, 403, "forbidden")
    r = http.post(f"{FLAVORS}/{flavor['id']}/os-extra_specs", json={"extra_specs": {"a": "b"}},
                  token=token)  # fmt: skip
    nova_error(r, 403, "forbidden")


def test_delete(http, unique):
    body = {"flavor": {"name": unique("del"), "ram": 64, "vcpus": 1, "disk": 1}}
    flavor = http.expect(http.post(FLAVORS, json=body), 200)["flavor"]
    assert http.delete(f"{FLAVORS}/{flavor['id']}").status_code == 202
    nova_error(
        http.get(f"{FLAVORS}/{flavor['id']}"),
        404,
        "itemNotFound",
        f"Flavor {flavor['id']} could not be found.",
    )
    nova_error(http.delete(f"{FLAVORS}/{flavor['id']}"), 404, "itemNotFound")


def test_update_description(http, make_flavor):
    flavor = make_flavor("2.55", description="before")
    url = f"{FLAVORS}/{flavor['id']}"
    r = http.put(url, json={"flavor": {"description": "after"}}, headers=v("2.55"))
    assert http.expect(r, 200)["flavor"]["description"] == "after"
    shown = http.expect(http.get(url, headers=v("2.55")), 200)["flavor"]
    assert shown["description"] == "after"
    r = http.put(url, json={"flavor": {"description": None}}, headers=v("2.61"))
    updated = http.expect(r, 200)["flavor"]
    assert updated["description"] is None and updated["extra_specs"] == {}
    # not before 2.55, and nothing but the description
    nova_error(http.put(url, json={"flavor": {"description": "x"}}), 404, "itemNotFound")
    r = http.put(url, json={"flavor": {"name": "x"}}, headers=v("2.55"))
    nova_error(r, 400, "badRequest")
    r = http.put(f"{FLAVORS}/nope", json={"flavor": {"description": "x"}}, headers=v("2.55"))
    nova_error(r, 404, "itemNotFound")


# -- private flavors and access ------------------------------------------------------------


def _demo_project(http) -> str:
    token_info = http.validate(http.demo_token)
    return str(token_info.json()["token"]["project"]["id"])


def test_private_flavor_visibility_and_access(http, make_flavor):
    flavor = make_flavor(**{"os-flavor-access:is_public": False})
    url = f"{FLAVORS}/{flavor['id']}"
    demo = http.demo_token
    demo_project = _demo_project(http)

    nova_error(http.get(url, token=demo), 404, "itemNotFound", "could not be found")
    assert flavor["id"] not in {
        f["id"] for f in http.expect(http.get(FLAVORS, token=demo), 200)["flavors"]
    }
    nova_error(http.get(f"{url}/os-extra_specs", token=demo), 404, "itemNotFound")
    # admins see it; their plain list holds public flavors only
    http.expect(http.get(url), 200)
    assert flavor["id"] not in {f["id"] for f in http.expect(http.get(FLAVORS), 200)["flavors"]}
    private = http.expect(http.get(FLAVORS, params={"is_public": "false"}), 200)["flavors"]
    assert flavor["id"] in {f["id"] for f in private}
    assert all(f["id"] != "1" for f in private)
    everything = http.expect(http.get(FLAVORS, params={"is_public": "None"}), 200)["flavors"]
    assert {flavor["id"], "1"} <= {f["id"] for f in everything}
    nova_error(http.get(FLAVORS, params={"is_public": "perhaps"}), 400, "badRequest", "is_public")

    access = http.expect(http.get(f"{url}/os-flavor-access"), 200)
    assert access == {"flavor_access": []}
    add = {"addTenantAccess": {"tenant": demo_project}}
    granted = http.expect(http.post(f"{url}/action", json=add), 200)
    assert granted == {"flavor_access": [{"flavor_id": flavor["id"], "tenant_id": demo_project}]}
    nova_error(http.post(f"{url}/action", json=add), 409, "conflictingRequest", "already exists")

    shown = http.expect(http.get(url, token=demo), 200)["flavor"]
    assert shown["os-flavor-access:is_public"] is False
    # the demo project's list now holds it (is_public is ignored for members)
    listed = http.get(FLAVORS, token=demo, params={"is_public": "false"})
    assert flavor["id"] in {f["id"] for f in http.expect(listed, 200)["flavors"]}

    remove = {"removeTenantAccess": {"tenant": demo_project}}
    assert http.expect(http.post(f"{url}/action", json=remove), 200) == {"flavor_access": []}
    nova_error(http.get(url, token=demo), 404, "itemNotFound")
    nova_error(
        http.post(f"{url}/action", json=remove),
        404,
        "itemNotFound",
        f"Flavor access not found for {flavor['id']} / {demo_project} combination.",
    )


def test_access_errors(http, make_flavor):
    public = make_flavor()
    private = make_flavor(**{"os-flavor-access:is_public": False})
    demo_project = _demo_project(http)
    add = {"addTenantAccess": {"tenant": demo_project}}
    nova_error(
        http.get(f"{FLAVORS}/{public['id']}/os-flavor-access"),
        404,
        "itemNotFound",
        "Access list not available for public flavors.",
    )
    r = http.post(f"{FLAVORS}/{public['id']}/action", json=add, headers=v("2.7"))
    nova_error(r, 409, "conflictingRequest", "Can not add access to a public flavor.")
    r = http.post(f"{FLAVORS}/{private['id']}/action",
                  json={"addTenantAccess": {"tenant": "no-such-project"}})  # fmt: skip
    nova_error(r, 400, "badRequest", "Project ID no-such-project is not a valid project.")
    nova_error(http.post(f"{FLAVORS}/nope/action", json=add), 404, "itemNotFound")
    r = http.post(f"{FLAVORS}/{private['id']}/action", json={"addTenantAccess": {}})
    nova_error(r, 400, "badRequest", "tenant")
    r = http.post(f"{FLAVORS}/{private['id']}/action", json={"frobnicate": {}})
    nova_error(r, 400, "badRequest", "There is no such action: frobnicate")
    r = http.post(f"{FLAVORS}/{private['id']}/action", json=add, token=http.demo_token)
    nova_error(r, 403, "forbidden")


# -- listing: filters, sorting, pages ------------------------------------------------------


def test_filters_sorting_and_pages(http, make_flavor, unique):
    # above any other flavor's RAM, so that the filtered pages hold only these
    rams = [3000001, 3000003, 3000002, 3000004]
    made = [make_flavor(ram=ram, disk=ram - 3000000) for ram in rams]
    ids = {f["id"] for f in made}

    def listed(**params: Any) -> list[dict[str, Any]]:
        r = http.get(f"{FLAVORS}/detail", params=params)
        return [f for f in http.expect(r, 200)["flavors"] if f["id"] in ids]

    assert [f["ram"] for f in listed(sort_key="memory_mb")] == [3000001, 3000002, 3000003, 3000004]
    assert [f["ram"] for f in listed(sort_key="memory_mb", sort_dir="desc")] == [
        3000004, 3000003, 3000002, 3000001,
    ]  # fmt: skip
    assert {f["ram"] for f in listed(minRam=3000003)} == {3000003, 3000004}
    assert {f["ram"] for f in listed(minDisk=2, minRam=3000001)} == {3000002, 3000003, 3000004}

    # pages of two by RAM, from the first of ours
    first = min(made, key=lambda f: f["ram"])
    start = http.expect(
        http.get(FLAVORS, params={"sort_key": "memory_mb", "minRam": 3000001, "limit": 2}), 200
    )
    assert start["flavors"][0]["id"] == first["id"]
    next_link = start["flavors_links"][0]
    assert next_link["rel"] == "next" and "marker=" in next_link["href"]
    admin = {"X-Auth-Token": http.admin_token}
    rest = http.expect(http.client.get(next_link["href"], headers=admin), 200)
    names = [f["id"] for f in start["flavors"] + rest["flavors"]]
    assert names == [f["id"] for f in sorted(made, key=lambda f: f["ram"])]
    # a full page links on, as Nova's do; the page after it is empty and ends
    end = http.expect(http.client.get(rest["flavors_links"][0]["href"], headers=admin), 200)
    assert end == {"flavors": []}

    nova_error(http.get(FLAVORS, params={"marker": "nope"}), 400, "badRequest", "marker [nope]")
    nova_error(http.get(FLAVORS, params={"minRam": "lots"}), 400, "badRequest", "minRam")
    nova_error(http.get(FLAVORS, params={"sort_key": "color"}), 400, "badRequest", "sort_key")
    nova_error(http.get(FLAVORS, params={"sort_dir": "up"}), 400, "badRequest", "sort_dir")
    nova_error(http.get(FLAVORS, params={"limit": "-1"}), 400, "badRequest", "limit")
    # unknown parameters: ignored before 2.75, refused from it
    http.expect(http.get(FLAVORS, params={"color": "red"}, headers=v("2.74")), 200)
    r = http.get(FLAVORS, params={"color": "red"}, headers=v("2.75"))
    nova_error(r, 400, "badRequest", "color")


# -- extra specs ---------------------------------------------------------------------------


def test_extra_specs_crud(http, make_flavor):
    flavor = make_flavor()
    url = f"{FLAVORS}/{flavor['id']}/os-extra_specs"
    assert http.expect(http.get(url), 200) == {"extra_specs": {}}
    body = {"extra_specs": {"hw:cpu_policy": "shared", "custom:size": 5, "x y.z-1_": "ok"}}
    assert http.expect(http.post(url, json=body), 200) == body
    specs = http.expect(http.get(url, token=http.demo_token), 200)["extra_specs"]
    assert specs == {"hw:cpu_policy": "shared", "custom:size": "5", "x y.z-1_": "ok"}
    assert http.expect(http.get(f"{url}/custom:size"), 200) == {"custom:size": "5"}
    r = http.put(f"{url}/hw:cpu_policy", json={"hw:cpu_policy": "dedicated"})
    assert http.expect(r, 200) == {"hw:cpu_policy": "dedicated"}
    shown = http.expect(http.get(f"{FLAVORS}/{flavor['id']}", headers=v("2.61")), 200)
    assert shown["flavor"]["extra_specs"]["hw:cpu_policy"] == "dedicated"
    listed = http.expect(http.get(f"{FLAVORS}/detail", headers=v("2.61")), 200)["flavors"]
    assert next(f for f in listed if f["id"] == flavor["id"])["extra_specs"]["custom:size"] == "5"

    assert http.delete(f"{url}/custom:size").status_code == 200
    nova_error(
        http.get(f"{url}/custom:size"),
        404,
        "itemNotFound",
        f"Flavor {flavor['id']} has no extra specs with key custom:size.",
    )
    nova_error(http.delete(f"{url}/custom:size"), 404, "itemNotFound")
    nova_error(http.get(f"{FLAVORS}/nope/os-extra_specs"), 404, "itemNotFound")


@pytest.mark.parametrize(
    ("method", "suffix", "body", "needle"),
    [
        ("post", "", {"extra_specs": {"bad/key": "v"}}, "bad/key"),
        ("post", "", {"extra_specs": {"k": "v" * 256}}, "k"),
        ("post", "", {"extra_specs": {"k": True}}, "k"),
        ("post", "", {"extra_specs": {"k": None}}, "k"),
        ("post", "", {"extra_specs": "k=v"}, "extra_specs"),
        ("post", "", {"specs": {}}, "extra_specs"),
        ("put", "/k", {"other": "v"}, "Request body and URI mismatch"),
        ("put", "/k", {"k": "v", "j": "w"}, "too many items"),
        ("put", "/k", {}, "extra_specs"),
    ],
)
def test_extra_spec_validation(http, make_flavor, method, suffix, body, needle):
    flavor = make_flavor()
    url = f"{FLAVORS}/{flavor['id']}/os-extra_specs{suffix}"
    r = getattr(http, method)(url, json=body)
    assert needle in nova_error(r, 400, "badRequest")


def test_extra_specs_validated_from_286(http, make_flavor):
    flavor = make_flavor()
    url = f"{FLAVORS}/{flavor['id']}/os-extra_specs"
    for specs, needle in (
        ({"hw:cpu_policy": "bogus"}, "'bogus' is not one of"),
        ({"hw:no_such_thing": "1"}, "'hw:no_such_thing' does not appear to be a valid"),
        ({"hw:numa_nodes": "0"}, "less than the min value"),
        ({"resources:VCPU": "x"}, "not a valid integer"),
        ({"trait:HW_CPU_X86_AVX": "sometimes"}, "is not one of"),
    ):
        old = http.post(url, json={"extra_specs": specs}, headers=v("2.85"))
        http.expect(old, 200)
        new = http.post(url, json={"extra_specs": specs}, headers=v("2.86"))
        assert needle in nova_error(new, 400, "badRequest")
    fine = {
        "hw:cpu_policy": "dedicated",
        "hw:numa_cpus.0": "0-1",
        "resources1:CUSTOM_GPU": "1",
        "trait:CUSTOM_FAST": "required",
        "aggregate_instance_extra_specs:ssd": "true",
        "no_namespace": "anything",
    }
    http.expect(http.post(url, json={"extra_specs": fine}, headers=v("2.86")), 200)


# -- the clients ---------------------------------------------------------------------------


def test_flavor_lifecycle_with_openstacksdk(admin_conn, demo_conn, unique):
    name = unique("sdk")
    flavor = admin_conn.compute.create_flavor(
        name=name, ram=96, vcpus=1, disk=2, is_public=False, description="via sdk"
    )
    try:
        assert flavor.name == name and flavor.ram == 96 and flavor.is_public is False
        fetched = admin_conn.compute.get_flavor(flavor.id)
        assert fetched.description == "via sdk"
        admin_conn.compute.create_flavor_extra_specs(flavor, {"hw:mem_page_size": "small"})
        specs = admin_conn.compute.fetch_flavor_extra_specs(flavor).extra_specs
        assert specs == {"hw:mem_page_size": "small"}
        with pytest.raises(sdk_exc.NotFoundException):
            demo_conn.compute.get_flavor(flavor.id)
        demo_project = demo_conn.current_project_id
        admin_conn.compute.flavor_add_tenant_access(flavor, demo_project)
        access = admin_conn.compute.get_flavor_access(flavor)
        assert [a["tenant_id"] for a in access] == [demo_project]
        assert demo_conn.compute.get_flavor(flavor.id).name == name
        assert name in {f.name for f in demo_conn.compute.flavors()}
        admin_conn.compute.flavor_remove_tenant_access(flavor, demo_project)
        with pytest.raises(sdk_exc.NotFoundException):
            demo_conn.compute.get_flavor(flavor.id)
        assert "m1.tiny" in {f.name for f in demo_conn.compute.flavors()}
    finally:
        admin_conn.compute.delete_flavor(flavor, ignore_missing=True)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.compute.get_flavor(flavor.id)


def test_flavor_commands_of_the_cli(run_cli, unique):
    name = unique("cli")
    created = run_cli(
        "flavor", "create", "--ram", "128", "--vcpus", "1", "--disk", "1", "--private",
        "--property", "hw:cpu_policy=shared", "--description", "from the cli", name,
    )  # fmt: skip
    try:
        assert created["name"] == name and created["ram"] == 128
        assert created["os-flavor-access:is_public"] is False
        run_cli("flavor", "set", "--property", "quota:cpu_shares=512", "--project", "demo", name)
        shown = run_cli("flavor", "show", name)
        assert shown["properties"] == {"hw:cpu_policy": "shared", "quota:cpu_shares": "512"}
        assert shown["description"] == "from the cli"
        assert shown["access_project_ids"]
        run_cli("flavor", "unset", "--property", "hw:cpu_policy", name)
        assert run_cli("flavor", "show", name)["properties"] == {"quota:cpu_shares": "512"}
        assert name in {f["Name"] for f in run_cli("flavor", "list", "--all")}
        assert name in {f["Name"] for f in run_cli("flavor", "list", "--private")}
        assert name not in {f["Name"] for f in run_cli("flavor", "list")}
        assert name in {f["Name"] for f in run_cli("flavor", "list", cloud="nubo-demo")}
    finally:
        run_cli("flavor", "delete", name)
    with pytest.raises(run_cli.Error):
        run_cli("flavor", "show", name)
