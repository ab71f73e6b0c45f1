"""The metadata service over real HTTP, as a network's metadata proxy reaches it
(``/metadata`` with the asking port's id, HMAC-signed): version lists, the signature
check, a 404 naming a port that belongs to no instance, and servers made through the
compute API reading their own OpenStack and EC2 metadata and nobody else's, and
posting a password their owner reads through os-server-password."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nubo.network.metadata import sign

KEY = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
    + " md@test"
)
SCRIPT = "#!/bin/sh\necho 'métadata ok' > /tmp/marker\n".encode()
_cidrs = itertools.count(1)


def md(http, cloud, port_id, path, *, signature=None, method="GET", content=None):
    """GET (or ``method``) /metadata/<path> as the proxy forwards it for ``port_id``."""
    secret = (cloud.data_dir / "metadata_secret").read_text().strip()
    headers = {
        "X-Nubo-Port-Id": port_id,
        "X-Nubo-Port-Id-Signature": signature or sign(secret, port_id),
        "X-Forwarded-For": "10.0.0.5",
    }
    return http.request(method, "/metadata/" + path, token=None, headers=headers, content=content)


def ok(response, content_type="text/plain"):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(content_type)
    return response


@pytest.fixture
def network(demo_conn, admin_conn, unique):
    n = next(_cidrs)
    net = demo_conn.network.create_network(name=unique("mdnet"))
    demo_conn.network.create_subnet(
        network_id=net.id, ip_version=4, cidr=f"10.231.{n}.0/24", name=unique("mdsub")
    )
    yield net
    for port in admin_conn.network.ports(network_id=net.id):
        if not port.device_owner.startswith("network:"):
            admin_conn.network.delete_port(port, ignore_missing=True)
    admin_conn.network.delete_network(net.id, ignore_missing=True)


# -- without an instance -------------------------------------------------------------------


def test_version_lists(http, cloud, network, demo_conn):
    port = demo_conn.network.create_port(network_id=network.id)
    root = ok(md(http, cloud, port.id, ""))
    assert root.text.split("\n") == [
        "1.0",
        "2007-01-19",
        "2007-03-01",
        "2007-08-29",
        "2007-10-10",
        "2007-12-15",
        "2008-02-01",
        "2008-09-01",
        "2009-04-04",
        "latest",
    ]
    versions = ok(md(http, cloud, port.id, "openstack")).text.split("\n")
    assert versions[0] == "2012-08-10" and versions[-2:] == ["2020-10-14", "latest"]
    assert ok(md(http, cloud, port.id, "openstack/")).text.split("\n") == versions


def test_unsigned_and_forged_requests_are_refused(http, cloud, network, demo_conn):
    port = demo_conn.network.create_port(network_id=network.id)
    unsigned = http.get("/metadata/openstack/latest/meta_data.json", token=None)
    assert unsigned.status_code == 403
    forged = md(http, cloud, port.id, "latest/meta-data/", signature="0" * 64)
    assert forged.status_code == 403
    assert port.id not in forged.text


def test_a_port_of_no_instance_gets_a_404_naming_it(http, cloud, network, demo_conn, admin_conn):
    free = demo_conn.network.create_port(network_id=network.id)
    # compute-owned, but no such server
    orphan = admin_conn.network.create_port(
        network_id=network.id, device_owner="compute:nova", device_id=str(uuid.uuid4())
    )
    for port in (free, orphan):
        for path in ("openstack/latest/meta_data.json", "latest/meta-data/instance-id"):
            r = md(http, cloud, port.id, path)
            assert r.status_code == 404
            assert port.id in r.json()["error"]["message"]


# -- servers reading their own metadata -------------------------------------------------------


def _wait(what, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.fixture
def boot(demo_conn, admin_conn, http, unique, network):
    """boot(**server attrs) -> (server, port) on ``network``; cleaned up after."""
    flavor = admin_conn.compute.create_flavor(
        name=unique("md"), ram=64, vcpus=1, disk=1, ephemeral=1, swap=16
    )
    image = http.expect(
        http.post(
            "/image/v2/images",
            token=http.demo_token,
            json={"name": unique("mdimg"), "disk_format": "raw", "container_format": "bare"},
        ),
        201,
    )
    http.expect(
        http.put(
            f"/image/v2/images/{image['id']}/file",
            token=http.demo_token,
            content=b"\0" * 65536,
            headers={"Content-Type": "application/octet-stream"},
        ),
        204,
    )
    servers = []

    def make(**attrs):
        server = demo_conn.compute.create_server(
            name=attrs.pop("name", unique("md-vm")),
            image_id=image["id"],
            flavor_id=flavor.id,
            networks=[{"uuid": network.id}],
            **attrs,
        )
        servers.append(server)
        server = demo_conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
        port = _wait(
            "the server's port", lambda: list(demo_conn.network.ports(device_id=server.id))
        )
        return server, port[0]

    yield make
    for server in servers:
        demo_conn.compute.delete_server(server, ignore_missing=True)
    for server in servers:
        demo_conn.compute.wait_for_delete(server, wait=120)
    http.delete(f"/image/v2/images/{image['id']}", token=http.demo_token)
    admin_conn.compute.delete_flavor(flavor, ignore_missing=True)


def test_a_server_reads_its_own_metadata(http, cloud, demo_conn, boot, unique, network):
    key = demo_conn.compute.create_keypair(name=unique("mdkey"), public_key=KEY)
    try:
        server, port = boot(
            name="Métadata VM",
            key_name=key.name,
            user_data=base64.b64encode(SCRIPT).decode(),
            metadata={"role": "wéb", "tier": "1"},
        )
    finally:
        demo_conn.compute.delete_keypair(key, ignore_missing=True)
    project_id = demo_conn.current_project_id

    listing = ok(md(http, cloud, port.id, "openstack/latest")).text.split("\n")
    assert {"meta_data.json", "user_data", "network_data.json", "vendor_data.json"} <= set(listing)
    meta = ok(md(http, cloud, port.id, "openstack/latest/meta_data.json"), "application/json")
    doc = meta.json()
    assert doc["uuid"] == server.id
    assert doc["name"] == "Métadata VM"
    shown = http.get(
        f"/compute/v2.1/servers/{server.id}",
        token=http.demo_token,
        headers={"OpenStack-API-Version": "compute 2.90"},
    )
    host = http.expect(shown, 200)["server"]["OS-EXT-SRV-ATTR:hostname"]
    assert doc["hostname"] == f"{host}.openstacklocal"
    assert doc["public_keys"] == {key.name: KEY}
    assert doc["keys"] == [{"name": key.name, "type": "ssh", "data": KEY}]
    assert doc["meta"] == {"role": "wéb", "tier": "1"}
    assert doc["project_id"] == project_id
    assert doc["availability_zone"] == "nova"
    assert len(base64.b64decode(doc["random_seed"])) == 512
    assert "admin_pass" not in doc
    assert ok(md(http, cloud, port.id, "openstack/latest/user_data")).content == SCRIPT
    assert ok(md(http, cloud, port.id, "openstack/2012-08-10/user_data")).content == SCRIPT
    assert ok(md(http, cloud, port.id, "openstack/latest/vendor_data.json"), "application/json")

    net_doc = md(http, cloud, port.id, "openstack/latest/network_data.json")
    net = json.loads(ok(net_doc, "application/json").content)
    assert net["links"] == [
        {
            "id": "tap" + port.id[:11],
            "vif_id": port.id,
            "type": "phy",
            "mtu": network.mtu,
            "ethernet_mac_address": port.mac_address,
        }
    ]
    assert [(n["type"], n["link"]) for n in net["networks"]] == [
        ("ipv4_dhcp", "tap" + port.id[:11])
    ]

    # the EC2 layout
    ec2 = "latest/meta-data/"
    assert ok(md(http, cloud, port.id, "latest")).text == "meta-data/\nuser-data"
    entries = ok(md(http, cloud, port.id, ec2)).text.split("\n")
    assert {"instance-id", "local-ipv4", "public-keys/", "placement/"} <= set(entries)
    assert md(http, cloud, port.id, ec2 + "instance-id").text == "i-" + server.id[:8]
    assert md(http, cloud, port.id, ec2 + "local-ipv4").text == port.fixed_ips[0]["ip_address"]
    flavor_name = demo_conn.compute.get_server(server.id).flavor.original_name
    assert md(http, cloud, port.id, ec2 + "instance-type").text == flavor_name
    assert md(http, cloud, port.id, ec2 + "public-keys/").text == f"0={key.name}"
    assert md(http, cloud, port.id, ec2 + "public-keys/0/openssh-key").text == KEY
    assert md(http, cloud, port.id, ec2 + "placement/availability-zone").text == "nova"
    assert ok(md(http, cloud, port.id, "2009-04-04/user-data")).content == SCRIPT
    assert md(http, cloud, port.id, "2009-04-04/meta-data/no-such-thing").status_code == 404


def test_each_port_sees_only_its_own_server(http, cloud, demo_conn, boot):
    first, first_port = boot(user_data=base64.b64encode(b"first").decode())
    second, second_port = boot()
    for server, port in ((first, first_port), (second, second_port)):
        doc = md(http, cloud, port.id, "openstack/latest/meta_data.json").json()
        assert doc["uuid"] == server.id
        assert doc["public_keys"] == {}
    assert md(http, cloud, first_port.id, "latest/user-data").content == b"first"
    # no user data: a 404, as guests expect
    assert md(http, cloud, second_port.id, "openstack/latest/user_data").status_code == 404
    assert md(http, cloud, second_port.id, "latest/user-data").status_code == 404

    # once the server is gone, its port (if any is left) sees nothing
    demo_conn.compute.delete_server(first)
    demo_conn.compute.wait_for_delete(first, wait=120)
    gone = md(http, cloud, first_port.id, "openstack/latest/meta_data.json")
    assert gone.status_code == 404 and first_port.id in gone.json()["error"]["message"]
    assert md(http, cloud, second_port.id, "latest/meta-data/instance-id").status_code == 200


def test_a_guest_posts_its_password_and_the_owner_reads_it(http, cloud, demo_conn, boot):
    server, port = boot()
    url = f"/compute/v2.1/servers/{server.id}/os-server-password"
    token = demo_conn.auth_token
    encrypted = base64.b64encode(uuid.uuid4().bytes * 16).decode()
    path = "openstack/latest/password"
    assert http.get(url, token=token).json() == {"password": ""}
    assert md(http, cloud, port.id, path, method="POST", content=encrypted).status_code == 200
    assert http.get(url, token=token).json() == {"password": encrypted}
    ok(md(http, cloud, port.id, "openstack/2013-04-04/password"))
    assert md(http, cloud, port.id, path).text == encrypted
    # once only: a second post changes nothing
    assert md(http, cloud, port.id, path, method="POST", content="other").status_code == 409
    assert http.get(url, token=token).json() == {"password": encrypted}
    # cleared by its owner, the guest may post again
    assert http.delete(url, token=token).status_code == 204
    assert md(http, cloud, port.id, path).text == ""
    big = "x" * 1021
    assert md(http, cloud, port.id, path, method="POST", content=big).status_code == 400
    assert md(http, cloud, port.id, path, method="POST", content="again").status_code == 200
    assert http.get(url, token=token).json() == {"password": "again"}
