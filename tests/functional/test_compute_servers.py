"""Servers (/compute/v2.1/servers) with the fake compute driver, through openstacksdk,
the ``openstack server`` CLI and raw HTTP: build to ACTIVE with an address on the
project's network, Nova's server body per microversion, list filters and paging,
update, delete (ports and allocations go), quotas, isolation, the ERROR path with a
fault a user can read, and Nova's error shapes."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import connection

from .compute import SERVERS, other_project, v, wait_for, wait_gone


def private_network(conn: connection.Connection) -> Any:
    return conn.network.find_network("private")


def test_server_builds_to_active_with_an_address(boot, demo_conn, http) -> None:
    net = private_network(demo_conn)
    server = boot(wait=False, networks=[{"uuid": net.id}])
    assert server.admin_password
    wait_for(http, demo_conn.auth_token, server.id, "ACTIVE")
    active = demo_conn.compute.get_server(server.id)
    assert active.vm_state == "active"
    assert active.task_state is None
    assert active.power_state == 1
    assert active.launched_at
    (entries,) = active.addresses.values()
    assert "private" in active.addresses
    assert entries[0]["OS-EXT-IPS:type"] == "fixed"
    assert entries[0]["addr"].startswith("10.0.0.")
    ports = list(demo_conn.network.ports(device_id=server.id))
    assert len(ports) == 1
    assert ports[0].device_owner.startswith("compute:")
    assert ports[0].binding_host_id == "" or ports[0].status == "ACTIVE"


def test_networks_auto_and_none(boot) -> None:
    assert boot(networks="none")["addresses"] == {}
    assert "private" in boot(networks="auto")["addresses"]


def test_server_body_follows_the_microversion(boot, demo_conn, http) -> None:
    server = boot(networks="none", description="d1", tags=["a", "b"])
    token = demo_conn.auth_token
    old = http.get(f"{SERVERS}/{server['id']}", token=token).json()["server"]
    assert old["flavor"] == {"id": "42", "links": old["flavor"]["links"]}
    assert "description" not in old and "tags" not in old and "locked" not in old
    new = http.get(f"{SERVERS}/{server['id']}", token=token, headers=v("2.96"))
    assert new.headers["openstack-api-version"] == "compute 2.96"
    body = new.json()["server"]
    assert body["flavor"]["original_name"] == "m1.nano"
    assert body["flavor"]["ram"] == 128
    assert body["description"] == "d1"
    assert body["tags"] == ["a", "b"]
    assert body["locked"] is False
    assert "OS-EXT-SRV-ATTR:host" not in body  # demo is no admin
    assert body["OS-EXT-SRV-ATTR:hostname"]


def test_admin_sees_host_attributes(boot, admin_conn) -> None:
    server = boot(networks="none")
    seen = admin_conn.compute.get_server(server["id"])
    assert seen.compute_host
    assert seen.hypervisor_hostname


def test_list_filters_and_paging(boot, demo_conn, unique) -> None:
    prefix = unique("lst")
    for i in range(3):
        boot(name=f"{prefix}-{i}", networks="none")
    names = {s.name for s in demo_conn.compute.servers(name=f"^{prefix}")}
    assert names == {f"{prefix}-{i}" for i in range(3)}
    assert not list(demo_conn.compute.servers(name=f"^{prefix}", status="SHUTOFF"))
    first = list(
        demo_conn.compute.servers(details=False, name=f"^{prefix}", limit=2, paginated=False)
    )
    assert len(first) == 2
    every = list(demo_conn.compute.servers(details=False, name=f"^{prefix}", limit=2))
    assert len(every) == 3


def test_update_name_and_description(boot, demo_conn, http) -> None:
    server = boot(networks="none")
    r = http.put(
        f"{SERVERS}/{server['id']}",
        token=demo_conn.auth_token,
        headers={"OpenStack-API-Version": "compute 2.19"},
        json={"server": {"name": "renamed", "description": "new"}},
    )
    assert r.status_code == 200
    assert r.json()["server"]["name"] == "renamed"
    assert r.json()["server"]["description"] == "new"


def test_update_before_2_75_returns_the_basic_view(boot, demo_conn, http) -> None:
    server = boot(networks="auto")
    token = demo_conn.auth_token
    old = http.put(
        f"{SERVERS}/{server['id']}",
        token=token,
        json={
            "server": {
                "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2",
                "OS-DCF:diskConfig": "AUTO",
            }
        },
    ).json()["server"]
    assert "OS-EXT-STS:vm_state" not in old and "key_name" not in old
    assert old["accessIPv6"] == "::babe:dc0c:1602"
    assert old["OS-DCF:diskConfig"] == "AUTO"
    (entry,) = old["addresses"]["private"]
    assert set(entry) == {"version", "addr"}
    new = http.put(
        f"{SERVERS}/{server['id']}", token=token, headers=v("2.96"), json={"server": {"name": "n2"}}
    ).json()["server"]
    assert new["OS-EXT-STS:vm_state"] == "active"
    assert new["server_groups"] == []


def test_list_by_flavor(boot, demo_conn, unique) -> None:
    prefix = unique("flv")
    boot(name=f"{prefix}-a", networks="none")
    micro = boot(name=f"{prefix}-b", networks="none", flavor_id="84")
    found = {s.id for s in demo_conn.compute.servers(name=f"^{prefix}", flavor="84")}
    assert found == {micro["id"]}


def test_delete_removes_ports_and_allocations(boot, demo_conn, admin_conn, http) -> None:
    sid = boot(networks="auto")["id"]
    demo_conn.compute.delete_server(sid)
    wait_gone(http, demo_conn.auth_token, sid)
    assert not list(demo_conn.network.ports(device_id=sid))
    r = http.get(
        f"/placement/allocations/{sid}",
        token=admin_conn.auth_token,
        headers={"OpenStack-API-Version": "placement 1.28"},
    )
    assert r.status_code == 200
    assert r.json()["allocations"] == {}


def test_another_projects_server_is_not_found(boot, demo_conn, admin_conn, http, unique) -> None:
    server = boot(wait=False, networks="none")
    admin_own = admin_conn.compute.servers()  # admin's own project: demo's server absent
    assert server.id not in {s.id for s in admin_own}
    all_tenants = {s.id for s in admin_conn.compute.servers(all_projects=True)}
    assert server.id in all_tenants
    other = other_project(admin_conn, unique)
    try:
        r = http.get(f"{SERVERS}/{server.id}", token=other.auth_token)
        assert r.status_code == 404
        assert r.json()["itemNotFound"]["code"] == 404
        r = http.delete(f"{SERVERS}/{server.id}", token=other.auth_token)
        assert r.status_code == 404
    finally:
        other.close()


def test_no_valid_host_goes_to_error_with_a_fault(admin_conn, http, server_image, unique) -> None:
    flavor = admin_conn.compute.create_flavor(name=unique("huge"), ram=128, vcpus=1, disk=1_000_000)
    try:
        server = admin_conn.compute.create_server(
            name=unique("big"), flavor_id=flavor.id, image_id=server_image, networks="none"
        )
        failed = wait_for(http, admin_conn.auth_token, server.id, "ERROR")
        assert "No valid host was found" in failed["fault"]["message"]
        admin_conn.compute.delete_server(server.id)
        wait_gone(http, admin_conn.auth_token, server.id)
    finally:
        admin_conn.compute.delete_flavor(flavor.id)


@pytest.mark.parametrize(
    ("server", "status", "key", "text"),
    [
        ({"name": "x", "flavorRef": "nope", "imageRef": "IMAGE"}, 400, "badRequest", "Flavor"),
        ({"name": "x", "flavorRef": "42", "imageRef": "nope"}, 400, "badRequest", "Image"),
        ({"flavorRef": "42", "imageRef": "IMAGE"}, 400, "badRequest", "name"),
        (
            {"name": "x", "flavorRef": "42", "imageRef": "IMAGE", "networks": [{"uuid": "x"}]},
            400,
            "badRequest",
            "network",
        ),
        (
            {"name": "x", "flavorRef": "42", "imageRef": "IMAGE", "key_name": "missing"},
            400,
            "badRequest",
            "key_name",
        ),
        (
            {"name": "x", "flavorRef": "42", "imageRef": "IMAGE", "user_data": "%%%"},
            400,
            "badRequest",
            "base 64",
        ),
    ],
)
def test_bad_create_requests(http, demo_conn, server_image, server, status, key, text) -> None:
    body = {k: (server_image if v == "IMAGE" else v) for k, v in server.items()}
    r = http.post(SERVERS, token=demo_conn.auth_token, json={"server": body})
    assert r.status_code == status, r.text
    fault = r.json()[key]
    assert fault["code"] == status
    assert text.lower() in fault["message"].lower()


def test_networks_required_from_2_37(http, demo_conn, server_image) -> None:
    r = http.post(
        SERVERS,
        token=demo_conn.auth_token,
        headers={"OpenStack-API-Version": "compute 2.37"},
        json={"server": {"name": "x", "flavorRef": "42", "imageRef": server_image}},
    )
    assert r.status_code == 400
    assert "networks" in r.json()["badRequest"]["message"]


def test_unknown_server_and_microversion_errors(http, demo_conn) -> None:
    r = http.get(f"{SERVERS}/00000000-0000-0000-0000-000000000000", token=demo_conn.auth_token)
    assert r.status_code == 404
    assert "could not be found" in r.json()["itemNotFound"]["message"]
    r = http.get(
        SERVERS, token=demo_conn.auth_token, headers={"OpenStack-API-Version": "compute 3.0"}
    )
    assert r.status_code == 406


def test_instances_quota_gives_403(admin_conn, demo_conn, http, server_image, unique) -> None:
    project = demo_conn.current_project_id
    admin_conn.compute.update_quota_set(project, instances=0)
    try:
        r = http.post(
            SERVERS,
            token=demo_conn.auth_token,
            json={
                "server": {
                    "name": unique("q"),
                    "flavorRef": "42",
                    "imageRef": server_image,
                    "networks": "none",
                }
            },
            headers={"OpenStack-API-Version": "compute 2.37"},
        )
        assert r.status_code == 403
        assert "Quota exceeded for instances" in r.json()["forbidden"]["message"]
    finally:
        admin_conn.compute.revert_quota_set(project)


def test_cli_server_create_wait_list_delete(run_cli, server_image, unique) -> None:
    name = unique("cli")
    created = run_cli(
        "server",
        "create",
        "--flavor",
        "m1.nano",
        "--image",
        server_image,
        "--network",
        "private",
        "--wait",
        name,
        cloud="nubo-demo",
    )
    assert created["status"] == "ACTIVE"
    assert "private" in str(created["addresses"])
    listed = run_cli("server", "list", "--name", name, cloud="nubo-demo")
    assert [s["Name"] for s in listed] == [name]
    run_cli("server", "delete", "--wait", name, cloud="nubo-demo")
    assert run_cli("server", "list", "--name", name, cloud="nubo-demo") == []


def test_version_discovery(http) -> None:
    r = http.get("/compute/")
    assert r.status_code == 200
    legacy, version = r.json()["versions"]
    assert (legacy["id"], legacy["status"]) == ("v2.0", "SUPPORTED")
    assert version["id"] == "v2.1"
    assert version["min_version"] == "2.1"
    assert version["version"] == "2.96"
