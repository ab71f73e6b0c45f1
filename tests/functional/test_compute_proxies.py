"""Nova's proxy APIs and the small server APIs around them, on the fake compute driver
over raw HTTP at microversion 2.1 (and the ``openstack`` CLI where it calls them):
images and image metadata, security groups, floating IPs with addFloatingIp /
removeFloatingIp, os-networks and os-tenant-networks, each gone (404) from the
microversion Nova dropped it; instance usage audit logs, server external events,
diagnostics, restore / forceDelete / injectNetworkInfo and the console log tail."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openstack import connection

from . import compute
from .compute import SERVERS, other_project, v, wait_for, wait_gone
from .http_client import Http

C = "/compute/v2.1"


def expect(r: Any, status: int, family: str | None = None) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    if family is not None:
        body = r.json()
        assert list(body) == [family], body
        assert body[family]["code"] == status
        return body[family]["message"]
    return r.json() if r.content else None


def act(
    http: Http, token: str, server_id: str, body: dict[str, Any], version: str = "2.1"
) -> httpx.Response:
    """A server action at this module's microversion, 2.1, unless told otherwise."""
    return compute.act(http, token, server_id, body, version)


def wait_image(http: Any, token: str, image_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = expect(http.get(f"{C}/images/{image_id}", token=token), 200)["image"]
        if body["status"] == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} is {body.get('status')}, wanted {status}")


@pytest.fixture(scope="module")
def private_net(demo_conn: connection.Connection) -> str:
    network = demo_conn.network.find_network("private")
    assert network is not None, "nubo up makes the demo project's private network"
    return str(network.id)


@pytest.fixture
def boot(boot: Callable[..., Any], private_net: str) -> Callable[..., Any]:
    """conftest's ``boot``, on the demo project's private network unless told otherwise."""
    return functools.partial(boot, networks=[{"uuid": private_net}])


# -- images ------------------------------------------------------------------------------


def test_images_proxy_lists_shows_and_filters(
    http: Any,
    admin_conn: connection.Connection,
    demo_conn: connection.Connection,
    server_image: str,
    unique: Callable[[str], str],
) -> None:
    token = http.demo_token
    name = unique("img")
    own = demo_conn.image.create_image(
        name=name,
        disk_format="raw",
        container_format="bare",
        visibility="private",
        data=b"x" * 1024,
        os_distro="debian",
    )
    try:
        listed = expect(http.get(f"{C}/images", token=token), 200)["images"]
        brief = next(i for i in listed if i["id"] == own.id)
        assert set(brief) == {"id", "name", "links"}
        assert [link["rel"] for link in brief["links"]] == ["self", "bookmark", "alternate"]
        assert brief["links"][0]["href"].endswith(f"/compute/v2.1/images/{own.id}")
        assert any(i["id"] == server_image for i in listed)

        shown = expect(http.get(f"{C}/images/{own.id}", token=token), 200)["image"]
        assert shown["status"] == "ACTIVE" and shown["progress"] == 100
        assert shown["name"] == name
        assert shown["metadata"]["os_distro"] == "debian"
        assert shown["OS-EXT-IMG-SIZE:size"] == 1024
        assert shown["minRam"] == 0 and shown["minDisk"] == 0
        assert "server" not in shown
        assert shown["created"].endswith("Z")

        by_name = expect(http.get(f"{C}/images/detail?name={name}", token=token), 200)
        assert [i["id"] for i in by_name["images"]] == [own.id]
        assert by_name["images"][0] == shown
        saving = expect(http.get(f"{C}/images?status=SAVING&name={name}", token=token), 200)
        assert saving["images"] == []
        since = expect(
            http.get(f"{C}/images?changes-since={shown['created']}&name={name}", token=token),
            200,
        )
        assert [i["id"] for i in since["images"]] == [own.id]
        future = expect(
            http.get(f"{C}/images?changes-since=2999-01-01T00:00:00Z", token=token), 200
        )
        assert future["images"] == []
        page = expect(http.get(f"{C}/images?limit=1", token=token), 200)
        assert len(page["images"]) == 1
        assert "marker=" in page["images_links"][0]["href"]
        assert expect(http.get(f"{C}/images?limit=x", token=token), 400, "badRequest")
        assert expect(http.get(f"{C}/images?minRam=x", token=token), 400, "badRequest")
        assert expect(http.get(f"{C}/images?minDisk=1000&name={name}", token=token), 200) == {
            "images": []
        }

        # gone from 2.36; unknown, non-UUID or blank ids are 404
        expect(http.get(f"{C}/images", token=token, headers=v("2.36")), 404, "itemNotFound")
        expect(
            http.get(f"{C}/images/{own.id}", token=token, headers=v("2.36")), 404, "itemNotFound"
        )
        assert expect(http.get(f"{C}/images/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        expect(http.get(f"{C}/images/not-an-id", token=token), 404, "itemNotFound")
        expect(http.delete(f"{C}/images/", token=token), 404, "itemNotFound")
        expect(http.delete(f"{C}/images/-1", token=token), 404, "itemNotFound")
        # another project neither sees nor deletes a private image; a public one it
        # sees but may not delete
        alt = other_project(admin_conn, unique)
        try:
            expect(http.get(f"{C}/images/{own.id}", token=alt.auth_token), 404, "itemNotFound")
            expect(http.delete(f"{C}/images/{own.id}", token=alt.auth_token), 404)
            expect(http.delete(f"{C}/images/{server_image}", token=alt.auth_token), 403)
        finally:
            alt.close()

        expect(http.delete(f"{C}/images/{own.id}", token=token), 204)
        expect(http.get(f"{C}/images/{own.id}", token=token), 404, "itemNotFound")
    finally:
        demo_conn.image.delete_image(own.id, ignore_missing=True)


def test_image_metadata_proxy(
    http: Any, demo_conn: connection.Connection, server_image: str, unique: Callable[[str], str]
) -> None:
    token = http.demo_token
    image = demo_conn.image.create_image(
        name=unique("meta"), disk_format="raw", container_format="bare", visibility="private"
    )
    base = f"{C}/images/{image.id}/metadata"
    try:
        body = {"metadata": {"os_version": "value1", "os_distro": "value2"}}
        assert expect(http.put(base, token=token, json=body), 200) == body
        assert expect(http.get(base, token=token), 200) == body
        merged = expect(
            http.post(base, token=token, json={"metadata": {"os_version": "alt1", "arch": "x"}}),
            200,
        )
        assert merged == {"metadata": {"os_version": "alt1", "os_distro": "value2", "arch": "x"}}
        assert expect(http.get(f"{base}/os_distro", token=token), 200) == {
            "meta": {"os_distro": "value2"}
        }
        r = http.put(f"{base}/os_version", token=token, json={"meta": {"os_version": "alt"}})
        assert expect(r, 200) == {"meta": {"os_version": "alt"}}
        expect(http.delete(f"{base}/arch", token=token), 204)
        replaced = expect(http.put(base, token=token, json={"metadata": {"k": "v"}}), 200)
        assert replaced == {"metadata": {"k": "v"}}
        # the image service sees the same properties
        assert demo_conn.image.get_image(image.id).properties.get("k") == "v"
        assert expect(http.get(base, token=token), 200) == {"metadata": {"k": "v"}}

        # errors: missing key, body/URI mismatch, bad bodies, image attributes, quota
        expect(http.get(f"{base}/nope", token=token), 404, "itemNotFound")
        expect(http.delete(f"{base}/nope", token=token), 404, "itemNotFound")
        r = http.put(f"{base}/k", token=token, json={"meta": {"other": "v"}})
        assert "mismatch" in expect(r, 400, "badRequest")
        r = http.put(f"{base}/k", token=token, json={"meta": {"k": "v", "j": "w"}})
        expect(r, 400, "badRequest")
        expect(http.post(base, token=token, json={"meta": {}}), 400, "badRequest")
        expect(http.post(base, token=token, json={"metadata": {"k": 1}}), 400, "badRequest")
        expect(http.post(base, token=token, json={"metadata": {"name": "x"}}), 400, "badRequest")
        many = {"metadata": {f"key{i}": "v" for i in range(129)}}
        expect(http.put(base, token=token, json=many), 403, "forbidden")
        for path in (base, f"{base}/k"):
            expect(http.get(path.replace(image.id, str(uuid.uuid4())), token=token), 404)
        expect(http.post(f"{C}/images/{uuid.uuid4()}/metadata", token=token, json=body), 404)
        # another project's (public) image: visible, not writable
        r = http.post(
            f"{C}/images/{server_image}/metadata", token=token, json={"metadata": {"a": "b"}}
        )
        expect(r, 403, "forbidden")
        # gone from 2.39 (the images themselves from 2.36)
        assert expect(http.get(base, token=token, headers=v("2.38")), 200)
        expect(http.get(base, token=token, headers=v("2.39")), 404, "itemNotFound")
    finally:
        demo_conn.image.delete_image(image.id, ignore_missing=True)


def test_snapshots_are_found_by_server_and_type(
    boot: Callable[..., dict[str, Any]], http: Any, demo_conn: connection.Connection
) -> None:
    token = http.demo_token
    one, two = boot(), boot()
    made = []
    try:
        r = act(http, token, one["id"], {"createImage": {"name": "snap-1"}})
        expect(r, 202)
        first = r.headers["location"].rsplit("/", 1)[-1]
        made.append(first)
        wait_for(http, token, one["id"], "ACTIVE")
        r = act(
            http,
            token,
            two["id"],
            {"createImage": {"name": "snap-2", "metadata": {"image_type": "test"}}},
        )
        expect(r, 202)
        second = r.headers["location"].rsplit("/", 1)[-1]
        made.append(second)
        shown = wait_image(http, token, first, "ACTIVE")
        assert shown["server"]["id"] == one["id"]
        assert shown["metadata"]["instance_uuid"] == one["id"]
        assert shown["metadata"]["image_type"] == "snapshot"
        assert wait_image(http, token, second, "ACTIVE")["metadata"]["image_type"] == "test"
        for ref in (one["id"], *(link["href"] for link in one["links"])):
            found = expect(http.get(f"{C}/images?server={ref}", token=token), 200)["images"]
            assert [i["id"] for i in found] == [first], ref
        typed = expect(http.get(f"{C}/images/detail?type=snapshot", token=token), 200)
        ids = [i["id"] for i in typed["images"]]
        assert first in ids and second not in ids
        test = expect(http.get(f"{C}/images?type=test", token=token), 200)["images"]
        assert [i["id"] for i in test] == [second]
    finally:
        for image_id in made:
            http.delete(f"{C}/images/{image_id}", token=token)
        for server in (one, two):
            wait_for(http, token, server["id"], "ACTIVE")


# -- security groups -------------------------------------------------------------------------


def test_security_groups_proxy(
    boot: Callable[..., dict[str, Any]], http: Any, unique: Callable[[str], str]
) -> None:
    token = http.demo_token
    groups = f"{C}/os-security-groups"
    rules = f"{C}/os-security-group-rules"
    name = f" {unique('sg')} "  # spaces kept, as Neutron keeps them
    made = expect(
        http.post(groups, token=token, json={"security_group": {"name": name, "description": "d"}}),
        200,
    )["security_group"]
    other = expect(
        http.post(
            groups,
            token=token,
            json={"security_group": {"name": unique("sg"), "description": ""}},
        ),
        200,
    )["security_group"]
    try:
        assert made["name"] == name and made["rules"] == [] and made["description"] == "d"
        assert set(made) == {"id", "name", "description", "tenant_id", "rules"}
        listed = expect(http.get(groups, token=token), 200)["security_groups"]
        assert made in listed
        assert any(g["name"] == "default" for g in listed)
        assert listed == sorted(listed, key=lambda g: (g["tenant_id"], g["name"]))
        assert len(expect(http.get(f"{groups}?limit=1", token=token), 200)["security_groups"]) == 1
        expect(http.get(f"{groups}?offset=-1", token=token), 400, "badRequest")
        shown = expect(http.get(f"{groups}/{made['id']}", token=token), 200)["security_group"]
        assert shown == made

        # rules: tcp with the default CIDR, icmp with any type, from a group
        tcp = {"parent_group_id": made["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22}
        rule = expect(http.post(rules, token=token, json={"security_group_rule": tcp}), 200)[
            "security_group_rule"
        ]
        assert {k: rule[k] for k in tcp} == tcp
        assert rule["ip_range"] == {"cidr": "0.0.0.0/0"} and rule["group"] == {}
        icmp = {"parent_group_id": made["id"], "ip_protocol": "icmp", "from_port": -1}
        icmp["to_port"] = -1
        icmp["cidr"] = "10.2.3.124/24"
        rule2 = expect(http.post(rules, token=token, json={"security_group_rule": icmp}), 200)[
            "security_group_rule"
        ]
        assert rule2["ip_range"] == {"cidr": "10.2.3.124/24"}
        assert (rule2["from_port"], rule2["to_port"]) == (-1, -1)
        by_group = {"parent_group_id": made["id"], "ip_protocol": "udp", "group_id": other["id"]}
        rule3 = expect(http.post(rules, token=token, json={"security_group_rule": by_group}), 200)[
            "security_group_rule"
        ]
        assert rule3["group"] == {"name": other["name"], "tenant_id": other["tenant_id"]}
        assert (rule3["from_port"], rule3["to_port"]) == (1, 65535)
        assert rule3["ip_range"] == {}
        shown = expect(http.get(f"{groups}/{made['id']}", token=token), 200)["security_group"]
        assert {r["id"] for r in shown["rules"]} == {rule["id"], rule2["id"], rule3["id"]}

        bad_rules = [
            tcp,  # duplicate
            {**tcp, "ip_protocol": "tempest-999"},
            {**tcp, "from_port": 65536},
            {**tcp, "to_port": 70000},
            {**tcp, "from_port": 22, "to_port": 21},
            {**tcp, "from_port": "x"},
            {**tcp, "parent_group_id": "not-a-uuid"},
            {**tcp, "group_id": "not-a-uuid"},
            {**tcp, "cidr": "10.0.0.1/0"},
            {**tcp, "cidr": "nonsense"},
            {"parent_group_id": made["id"]},  # nothing to build a rule from
        ]
        for body in bad_rules:
            r = http.post(rules, token=token, json={"security_group_rule": body})
            expect(r, 400, "badRequest")
        for body in (
            {**tcp, "parent_group_id": str(uuid.uuid4())},
            {**tcp, "group_id": str(uuid.uuid4())},
        ):
            r = http.post(rules, token=token, json={"security_group_rule": body})
            expect(r, 404, "itemNotFound")
        expect(http.post(rules, token=token, json={}), 400, "badRequest")

        expect(http.delete(f"{rules}/{rule2['id']}", token=token), 202)
        expect(http.delete(f"{rules}/{rule2['id']}", token=token), 404, "itemNotFound")
        expect(http.delete(f"{rules}/not-a-uuid", token=token), 400, "badRequest")

        # update needs both name and description; the default group cannot be renamed
        upd = {"security_group": {"name": unique("sg"), "description": "new"}}
        updated = expect(http.put(f"{groups}/{made['id']}", token=token, json=upd), 200)
        assert updated["security_group"]["name"] == upd["security_group"]["name"]
        r = http.put(f"{groups}/{made['id']}", token=token, json={"security_group": {"name": "x"}})
        expect(r, 400, "badRequest")
        expect(http.put(f"{groups}/{uuid.uuid4()}", token=token, json=upd), 404, "itemNotFound")

        # a server's groups; a group in use cannot go (400)
        server = boot()
        expect(act(http, token, server["id"], {"addSecurityGroup": {"name": other["name"]}}), 202)
        on_server = expect(
            http.get(f"{SERVERS}/{server['id']}/os-security-groups", token=token), 200
        )["security_groups"]
        assert {g["name"] for g in on_server} == {"default", other["name"]}
        expect(http.delete(f"{groups}/{other['id']}", token=token), 400, "badRequest")
        expect(
            http.get(f"{SERVERS}/{uuid.uuid4()}/os-security-groups", token=token),
            404,
            "itemNotFound",
        )

        default = next(g for g in listed if g["name"] == "default")
        expect(http.delete(f"{groups}/{default['id']}", token=token), 400, "badRequest")
        expect(http.delete(f"{groups}/", token=token), 404, "itemNotFound")
        expect(http.delete(f"{groups}/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        expect(http.get(f"{groups}/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        expect(http.get(f"{groups}/12345", token=token), 400, "badRequest")

        # gone from 2.36
        for path in (
            groups,
            f"{groups}/{made['id']}",
            f"{SERVERS}/{server['id']}/os-security-groups",
        ):
            expect(http.get(path, token=token, headers=v("2.36")), 404, "itemNotFound")
        expect(http.delete(f"{groups}/{made['id']}", token=token), 202)
        expect(http.get(f"{groups}/{made['id']}", token=token), 404, "itemNotFound")
    finally:
        for group in (made, other):
            http.delete(f"{groups}/{group['id']}", token=token)


def test_security_groups_all_tenants_for_admins(http: Any, unique: Callable[[str], str]) -> None:
    groups = f"{C}/os-security-groups"
    body = {"security_group": {"name": unique("sg"), "description": ""}}
    demo = expect(http.post(groups, token=http.demo_token, json=body), 200)["security_group"]
    body = {"security_group": {"name": unique("sg"), "description": ""}}
    admin = expect(http.post(groups, json=body), 200)["security_group"]
    try:
        mine = [g["id"] for g in expect(http.get(groups), 200)["security_groups"]]
        assert admin["id"] in mine and demo["id"] not in mine
        every = [
            g["id"] for g in expect(http.get(f"{groups}?all_tenants=1"), 200)["security_groups"]
        ]
        assert {admin["id"], demo["id"]} <= set(every)
        theirs = expect(http.get(f"{groups}?all_tenants=1", token=http.demo_token), 200)
        ids = [g["id"] for g in theirs["security_groups"]]
        assert demo["id"] in ids and admin["id"] not in ids
        # another project's group is not there for the demo user
        expect(http.get(f"{groups}/{admin['id']}", token=http.demo_token), 404, "itemNotFound")
    finally:
        http.delete(f"{groups}/{demo['id']}", token=http.demo_token)
        http.delete(f"{groups}/{admin['id']}")


# -- floating IPs -------------------------------------------------------------------------------


def test_floating_ips_proxy_and_server_actions(
    boot: Callable[..., dict[str, Any]], http: Any, demo_conn: connection.Connection
) -> None:
    token = http.demo_token
    fips = f"{C}/os-floating-ips"
    public = demo_conn.network.find_network("public")
    assert public is not None
    one, two = boot(), boot()
    made: list[str] = []
    try:
        a = expect(http.post(fips, token=token, json={"pool": "public"}), 200)["floating_ip"]
        made.append(a["id"])
        b = expect(http.post(fips, token=token, json={"pool": public.id}), 200)["floating_ip"]
        made.append(b["id"])
        c = expect(http.post(fips, token=token), 200)["floating_ip"]  # the only external network
        made.append(c["id"])
        assert set(a) == {"id", "ip", "pool", "fixed_ip", "instance_id"}
        assert a["pool"] == b["pool"] == c["pool"] == "public"
        assert a["fixed_ip"] is None and a["instance_id"] is None
        assert a["ip"].startswith("172.24.4.")
        listed = expect(http.get(fips, token=token), 200)["floating_ips"]
        assert a in listed and b in listed
        assert expect(http.get(f"{fips}/{a['id']}", token=token), 200)["floating_ip"] == a
        expect(http.post(fips, token=token, json={"pool": "no-such-pool"}), 404, "itemNotFound")
        expect(http.get(f"{fips}/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        expect(http.get(f"{fips}/42", token=token), 404, "itemNotFound")
        expect(http.delete(f"{fips}/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        # another project does not see them
        expect(http.get(f"{fips}/{a['id']}", token=http.admin_token), 200)
        assert a not in expect(http.get(fips, token=http.admin_token), 200)["floating_ips"]

        # associate: the server's fixed IPv4 address; moving to another server is fine
        expect(act(http, token, one["id"], {"addFloatingIp": {"address": a["ip"]}}), 202)
        shown = expect(http.get(f"{fips}/{a['id']}", token=token), 200)["floating_ip"]
        assert shown["instance_id"] == one["id"]
        fixed = [x["addr"] for x in next(iter(one["addresses"].values()))]
        assert shown["fixed_ip"] in fixed
        expect(act(http, token, two["id"], {"addFloatingIp": {"address": a["ip"]}}), 202)
        assert (
            expect(http.get(f"{fips}/{a['id']}", token=token), 200)["floating_ip"]["instance_id"]
            == two["id"]
        )
        message = expect(
            act(http, token, one["id"], {"removeFloatingIp": {"address": a["ip"]}}),
            409,
            "conflictingRequest",
        )
        assert "not associated" in message
        # a second floating IP for the same fixed address: 400
        expect(
            act(http, token, two["id"], {"addFloatingIp": {"address": b["ip"]}}), 400, "badRequest"
        )
        expect(
            act(http, token, one["id"], {"addFloatingIp": {"address": "0.0.0.0"}}),
            404,
            "itemNotFound",
        )
        for body in (
            {"addFloatingIp": {"address": ""}},
            {"addFloatingIp": {}},
            {"addFloatingIp": {"address": b["ip"], "fixed_address": "10.9.9.9"}},
            {"addFloatingIp": {"address": b["ip"], "other": 1}},
            {"removeFloatingIp": {"address": "x"}},
        ):
            expect(act(http, token, one["id"], body), 400, "badRequest")
        expect(
            act(http, token, str(uuid.uuid4()), {"addFloatingIp": {"address": b["ip"]}}),
            404,
            "itemNotFound",
        )
        # gone: the actions from 2.44, the collection from 2.36
        r = act(http, token, two["id"], {"removeFloatingIp": {"address": a["ip"]}}, "2.44")
        expect(r, 404, "itemNotFound")
        expect(http.get(fips, token=token, headers=v("2.36")), 404, "itemNotFound")
        r = act(http, token, two["id"], {"removeFloatingIp": {"address": a["ip"]}}, "2.43")
        expect(r, 202)
        shown = expect(http.get(f"{fips}/{a['id']}", token=token), 200)["floating_ip"]
        assert shown["instance_id"] is None and shown["fixed_ip"] is None
        # the network API sees the same association changes
        assert demo_conn.network.get_ip(a["id"]).port_id is None

        for fip_id in list(made):
            expect(http.delete(f"{fips}/{fip_id}", token=token), 202)
            made.remove(fip_id)
        expect(http.get(f"{fips}/{a['id']}", token=token), 404, "itemNotFound")
    finally:
        for fip_id in made:
            http.delete(f"{fips}/{fip_id}", token=token)


# -- networks ------------------------------------------------------------------------------------


def test_networks_proxies(
    http: Any, admin_conn: connection.Connection, private_net: str, unique: Callable[[str], str]
) -> None:
    token = http.demo_token
    tenant = expect(http.get(f"{C}/os-tenant-networks", token=token), 200)["networks"]
    by_label = {n["label"]: n for n in tenant}
    assert by_label["private"] == {"id": private_net, "label": "private", "cidr": "10.0.0.0/26"}
    assert by_label["public"]["cidr"] == "172.24.4.0/24"
    shown = expect(http.get(f"{C}/os-tenant-networks/{private_net}", token=token), 200)
    assert shown == {"network": by_label["private"]}

    nets = expect(http.get(f"{C}/os-networks", token=token), 200)["networks"]
    private = next(n for n in nets if n["label"] == "private")
    assert private["cidr"] == "10.0.0.0/26" and private["netmask"] == "255.255.255.192"
    assert private["gateway"] == "10.0.0.1" and "project_id" not in private
    admin_view = expect(http.get(f"{C}/os-networks/{private_net}"), 200)["network"]
    assert admin_view["project_id"] and admin_view["deleted"] is False
    assert expect(http.get(f"{C}/os-networks/{private_net}", token=token), 200)["network"] == (
        private
    )

    # another project cannot see demo's private network: 404 like an unknown one
    alt = other_project(admin_conn, unique)
    try:
        alt_nets = expect(http.get(f"{C}/os-tenant-networks", token=alt.auth_token), 200)
        assert private_net not in [n["id"] for n in alt_nets["networks"]]
        assert "public" in [n["label"] for n in alt_nets["networks"]]
        r = http.get(f"{C}/os-networks/{private_net}", token=alt.auth_token)
        expect(r, 404, "itemNotFound")
    finally:
        alt.close()
    for path in (f"{C}/os-networks", f"{C}/os-tenant-networks"):
        expect(http.get(f"{path}/{uuid.uuid4()}", token=token), 404, "itemNotFound")
        expect(http.get(f"{path}/nope", token=token), 404, "itemNotFound")
        expect(http.get(path, token=token, headers=v("2.36")), 404, "itemNotFound")
    expect(http.post(f"{C}/os-networks", json={"network": {}}), 410)
    expect(http.delete(f"{C}/os-tenant-networks/{private_net}", token=token), 410)


# -- audit log, external events, diagnostics ---------------------------------------------------


def test_instance_usage_audit_log(http: Any) -> None:
    log = expect(http.get(f"{C}/os-instance_usage_audit_log"), 200)["instance_usage_audit_logs"]
    assert log["num_hosts"] >= 1 and log["num_hosts_not_run"] == log["num_hosts"]
    assert log["total_instances"] == 0 and log["log"] == {}
    assert log["overall_status"] == f"0 of {log['num_hosts']} hosts done. 0 errors."
    before = expect(http.get(f"{C}/os-instance_usage_audit_log/2024-03-15%2010:00:00"), 200)[
        "instance_usage_audit_log"
    ]
    assert (before["period_beginning"], before["period_ending"]) == (
        "2024-02-01 00:00:00",
        "2024-03-01 00:00:00",
    )
    january = expect(http.get(f"{C}/os-instance_usage_audit_log/2024-01-01%2000:00:00.5"), 200)[
        "instance_usage_audit_log"
    ]
    assert january["period_beginning"] == "2023-12-01 00:00:00"
    expect(http.get(f"{C}/os-instance_usage_audit_log/invalid_time"), 400, "badRequest")
    for path in ("", "/2024-03-15%2010:00:00"):
        r = http.get(f"{C}/os-instance_usage_audit_log{path}", token=http.demo_token)
        expect(r, 403, "forbidden")


def test_server_external_events(boot: Callable[..., dict[str, Any]], http: Any) -> None:
    server = boot()
    url = f"{C}/os-server-external-events"
    event = {"name": "network-changed", "server_uuid": server["id"]}
    body = expect(http.post(url, json={"events": [event]}), 200)
    assert body == {"events": [{**event, "status": "completed", "code": 200}]}
    tagged = {**event, "name": "network-vif-plugged", "tag": "port-1", "status": "in-progress"}
    missing = {"name": "network-changed", "server_uuid": str(uuid.uuid4())}
    body = expect(http.post(url, json={"events": [tagged, missing]}), 207)
    assert body["events"][0]["code"] == 200 and body["events"][0]["tag"] == "port-1"
    assert body["events"][1] == {**missing, "status": "failed", "code": 404}
    expect(http.post(url, json={"events": [missing]}), 404, "itemNotFound")
    for bad in (
        {},
        {"events": []},
        {"events": [{**event, "name": "nonsense"}]},
        {"events": [{**event, "name": "power-update"}]},  # 2.76+
        {"events": [{**event, "server_uuid": "x"}]},
        {"events": [{**event, "extra": 1}]},
        {"events": [{"name": "network-changed"}]},
    ):
        expect(http.post(url, json=bad), 400, "badRequest")
    r = http.post(
        url,
        json={"events": [{**event, "name": "power-update", "tag": "POWER_ON"}]},
        headers=v("2.76"),
    )
    expect(r, 200)
    expect(http.post(url, json={"events": [event]}, token=http.demo_token), 403, "forbidden")


def test_server_diagnostics(boot: Callable[..., dict[str, Any]], http: Any, run_cli: Any) -> None:
    server = boot()
    sid = server["id"]
    legacy = expect(http.get(f"{SERVERS}/{sid}/diagnostics"), 200)
    assert legacy["state"] == "running" and legacy["num_cpus"] == 1 and legacy["num_nics"] == 1
    standard = expect(http.get(f"{SERVERS}/{sid}/diagnostics", headers=v("2.48")), 200)
    assert standard["driver"] == "libvirt" and standard["hypervisor"] == "fake"
    assert standard["memory_details"]["maximum"] == 128
    assert standard["num_nics"] == len(standard["nic_details"]) == 1
    assert standard["nic_details"][0]["mac_address"]
    assert standard["num_disks"] == len(standard["disk_details"]) >= 1
    assert standard["cpu_details"] == [{"id": 0, "time": None, "utilisation": None}]
    assert isinstance(standard["uptime"], int) and standard["config_drive"] is False
    shown = run_cli("server", "show", "--diagnostics", sid, cloud="nubo")
    assert shown["state"] == "running"
    expect(http.get(f"{SERVERS}/{sid}/diagnostics", token=http.demo_token), 403, "forbidden")
    expect(http.get(f"{SERVERS}/{uuid.uuid4()}/diagnostics"), 404, "itemNotFound")
    expect(act(http, http.demo_token, sid, {"os-stop": None}), 202)
    wait_for(http, http.demo_token, sid, "SHUTOFF")
    message = expect(http.get(f"{SERVERS}/{sid}/diagnostics"), 409, "conflictingRequest")
    assert "power state shutdown" in message


# -- restore, forceDelete, injectNetworkInfo, console log ------------------------------------------


def test_restore_force_delete_and_inject_network_info(
    boot: Callable[..., dict[str, Any]], http: Any, run_cli: Any
) -> None:
    token = http.demo_token
    server = boot()
    sid = server["id"]
    message = expect(act(http, token, sid, {"restore": None}), 409, "conflictingRequest")
    assert f"Cannot 'restore' instance {sid} while it is in vm_state active" in message
    with pytest.raises(run_cli.Error):
        run_cli("server", "restore", sid, cloud="nubo-demo")
    for name in ("restore", "forceDelete", "injectNetworkInfo"):
        r = act(http, http.admin_token, str(uuid.uuid4()), {name: None})
        expect(r, 404, "itemNotFound")
    expect(act(http, token, sid, {"restore": {"x": 1}}), 400, "badRequest")
    expect(act(http, token, sid, {"injectNetworkInfo": None}), 403, "forbidden")
    expect(act(http, http.admin_token, sid, {"injectNetworkInfo": None}), 202)
    assert act(http, http.admin_token, sid, {"injectNetworkInfo": None}).content == b""
    r = act(http, token, sid, {"forceDelete": None})
    expect(r, 202)
    assert r.content == b""
    wait_gone(http, token, sid)
    other = boot()
    run_cli("server", "delete", "--force", other["id"], cloud="nubo-demo")
    wait_gone(http, token, other["id"])


def test_console_output_is_tailed_as_nova_does(
    boot: Callable[..., dict[str, Any]], http: Any, run_cli: Any
) -> None:
    token = http.demo_token
    sid = boot()["id"]
    whole = expect(act(http, token, sid, {"os-getConsoleOutput": {}}), 200)["output"]
    assert len(whole.split("\n")) > 4 and whole.endswith("login:\n")
    three = expect(act(http, token, sid, {"os-getConsoleOutput": {"length": 3}}), 200)["output"]
    assert len(three.split("\n")) == 3 and whole.endswith(three)
    assert three.endswith("login:\n")
    for length in (-1, None, "-1"):
        r = act(http, token, sid, {"os-getConsoleOutput": {"length": length}})
        assert expect(r, 200)["output"] == whole
    assert expect(act(http, token, sid, {"os-getConsoleOutput": {"length": "0"}}), 200) == {
        "output": ""
    }
    log = run_cli(
        "console", "log", "show", "--lines", "3", sid, cloud="nubo-demo", json_output=False
    )
    assert "login:" in log
    expect(
        act(http, token, str(uuid.uuid4()), {"os-getConsoleOutput": {"length": 10}}),
        404,
        "itemNotFound",
    )
