"""Instance metadata on a real (SQLite) database: every file of the OpenStack and EC2
layouts, directory listings, network_data.json for a dual-stack port, user-data
decoding, the config drive tree, and the /metadata endpoint choosing the instance by
the signed port id (through the ASGI app), and a guest posting its password."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from nubo.api.app import NuboApp
from nubo.api.policy import PolicyEngine
from nubo.compute import metadata_content as mc
from nubo.compute import models as cm
from nubo.config import Config
from nubo.db import migrate
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.errors import NotFound
from nubo.network import metadata as endpoint
from nubo.network import models as nm
from nubo.network import ports
from nubo.network.service import NetworkService

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uga2V5IGZvciB0ZXN0cw alice@laptop"
SCRIPT = "#!/bin/sh\necho 'héllo wörld' > /tmp/marker\n".encode()
IMAGE_ID = "5e2f9a10-1111-4222-8333-444455556666"


@dataclass
class World:
    config: Config
    db: Database
    net: NetworkService
    network_id: str
    v4: str  # subnet ids
    v6: str


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    config = Config(data_dir=str(tmp_path))
    db = Database(config.database_url)
    migrate.upgrade(db.engine)
    net = NetworkService(config, db, None)  # type: ignore[arg-type]
    with db.session() as s:
        network = nm.Network(project_id="alice", name="net1", mtu=1450)
        s.add(network)
        s.flush()
        v4 = nm.Subnet(
            project_id="alice",
            network_id=network.id,
            ip_version=4,
            cidr="10.1.0.0/24",
            gateway_ip="10.1.0.1",
            allocation_pools=[{"start": "10.1.0.10", "end": "10.1.0.100"}],
            dns_nameservers=["192.0.2.53"],
            host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.1.0.254"}],
        )
        s.add(v4)
        s.flush()
        v6 = nm.Subnet(
            project_id="alice",
            network_id=network.id,
            ip_version=6,
            cidr="fd00:1::/64",
            gateway_ip="fd00:1::1",
            allocation_pools=[{"start": "fd00:1::2", "end": "fd00:1::ffff:ffff:ffff:fffe"}],
            dns_nameservers=["2001:db8::53", "192.0.2.53"],
            ipv6_ra_mode="slaac",
            ipv6_address_mode="slaac",
        )
        s.add(v6)
        s.flush()
        ids = (network.id, v4.id, v6.id)
    yield World(config, db, net, *ids)
    db.dispose()


def add_server(
    w: World,
    *,
    name: str = "Wéb server",
    user_data: bytes | None = SCRIPT,
    key: bool = True,
    ports_on: list[str] | None = None,
    floating: str | None = None,
    **columns: Any,
) -> tuple[str, list[str]]:
    """A server row with a port on each network in ``ports_on`` (default: net1)."""
    server_id = str(uuid.uuid4())
    port_ids = []
    with w.db.session() as s:
        if key and s.get(cm.KeyPair, 1) is None:
            s.add(cm.KeyPair(user_id="u-alice", name="mykey", fingerprint="f", public_key=KEY))
        s.add(
            cm.Server(
                id=server_id,
                project_id="alice",
                user_id="u-alice",
                name=name,
                hostname=columns.pop("hostname", "web-server"),
                reservation_id="r-1a2b3c4d",
                launch_index=columns.pop("launch_index", 0),
                flavor={"id": "1", "name": "m1.tiny", "ephemeral_gb": 1, "swap_mb": 512},
                image_id=IMAGE_ID,
                key_name="mykey" if key else None,
                key_data=KEY if key else None,
                user_data=base64.b64encode(user_data).decode() if user_data is not None else None,
                metadata_items={"role": "wéb", "☃": "snow ❄"},
                security_groups=["default"],
                **columns,
            )
        )
        for network_id in ports_on if ports_on is not None else [w.network_id]:
            network = s.get(nm.Network, network_id)
            assert network is not None
            port = ports.new_port(
                w.net,
                s,
                project_id="alice",
                network=network,
                device_owner="compute:nova",
                device_id=server_id,
                binding_host_id="host1",
            )
            port_ids.append(port.id)
            if floating:
                s.add(
                    nm.FloatingIp(
                        project_id="alice",
                        floating_network_id=network_id,
                        floating_ip_address=floating,
                        floating_port_id=str(uuid.uuid4()),
                        fixed_port_id=port.id,
                    )
                )
    return server_id, port_ids


def instance(w: World, server_id: str) -> mc.Instance:
    with w.db.reader() as s:
        server = s.get(cm.Server, server_id)
        assert server is not None
        return mc.load(s, server, w.config)


def text(inst: mc.Instance, path: str) -> str:
    body, ctype = mc.render(inst, path)
    assert ctype == "text/plain"
    return body.decode()


def doc(inst: mc.Instance, path: str) -> Any:
    body, ctype = mc.render(inst, path)
    assert ctype == "application/json"
    return json.loads(body)


# -- OpenStack layout -----------------------------------------------------------------


def test_meta_data_json_latest(world: World) -> None:
    server_id, _ = add_server(world)
    md = doc(instance(world, server_id), "openstack/latest/meta_data.json")
    seed = base64.b64decode(md.pop("random_seed"))
    assert len(seed) == 512
    assert md == {
        "uuid": server_id,
        "name": "Wéb server",
        "hostname": "web-server.openstacklocal",
        "launch_index": 0,
        "availability_zone": "nova",
        "project_id": "alice",
        "public_keys": {"mykey": KEY},
        "keys": [{"name": "mykey", "type": "ssh", "data": KEY}],
        "meta": {"role": "wéb", "☃": "snow ❄"},
        "devices": [],
        "dedicated_cpus": [],
    }


def test_meta_data_fields_follow_the_version(world: World) -> None:
    server_id, _ = add_server(world, availability_zone="az-2", launch_index=3)
    inst = instance(world, server_id)
    folsom = doc(inst, "openstack/2012-08-10/meta_data.json")
    assert "random_seed" not in folsom and "project_id" not in folsom
    assert "devices" not in folsom and "dedicated_cpus" not in folsom
    assert folsom["availability_zone"] == "az-2" and folsom["launch_index"] == 3
    liberty = doc(inst, "openstack/2015-10-15/meta_data.json")
    assert liberty["project_id"] == "alice" and "devices" not in liberty
    assert "random_seed" in liberty
    assert doc(inst, "openstack/2016-06-30/meta_data.json")["devices"] == []
    assert "dedicated_cpus" not in doc(inst, "openstack/2018-08-27/meta_data.json")
    assert doc(inst, "openstack/2020-10-14/meta_data.json")["dedicated_cpus"] == []


def test_no_key_no_user_data(world: World) -> None:
    server_id, _ = add_server(world, key=False, user_data=None)
    inst = instance(world, server_id)
    md = doc(inst, "openstack/latest/meta_data.json")
    assert md["public_keys"] == {} and md["keys"] == []
    assert "admin_pass" not in md
    with pytest.raises(NotFound):
        mc.render(inst, "openstack/latest/user_data")
    assert "user_data" not in text(inst, "openstack/latest").split("\n")
    with pytest.raises(NotFound):
        mc.render(inst, "latest/user-data")
    assert text(inst, "latest") == "meta-data/"
    with pytest.raises(NotFound):
        mc.render(inst, "latest/meta-data/public-keys")
    assert "public-keys/" not in text(inst, "latest/meta-data").split("\n")


def test_user_data_is_decoded(world: World) -> None:
    server_id, _ = add_server(world)
    inst = instance(world, server_id)
    assert mc.render(inst, "openstack/latest/user_data") == (SCRIPT, "text/plain")
    assert mc.render(inst, "openstack/2012-08-10/user_data")[0] == SCRIPT
    assert mc.render(inst, "2009-04-04/user-data")[0] == SCRIPT
    assert mc.render(inst, "latest/user-data/")[0] == SCRIPT
    # binary (gzip'd) user data passes through byte for byte
    blob = bytes(range(256))
    other, _ = add_server(world, user_data=blob, key=False)
    assert mc.render(instance(world, other), "openstack/latest/user_data")[0] == blob


def test_other_openstack_files_and_listings(world: World) -> None:
    server_id, _ = add_server(world)
    inst = instance(world, server_id)
    versions = text(inst, "openstack").split("\n")
    assert versions == [*mc.OPENSTACK_VERSIONS, "latest"]
    assert "2020-10-14" in versions and versions[0] == "2012-08-10"
    assert text(inst, "openstack/latest/") == "\n".join(
        [
            "meta_data.json",
            "user_data",
            "password",
            "vendor_data.json",
            "network_data.json",
            "vendor_data2.json",
        ]
    )
    assert text(inst, "openstack/2012-08-10") == "meta_data.json\nuser_data"
    assert text(inst, "openstack/2015-10-15").split("\n")[-1] == "network_data.json"
    assert doc(inst, "openstack/latest/vendor_data.json") == {}
    assert doc(inst, "openstack/latest/vendor_data2.json") == {}
    assert mc.render(inst, "openstack/latest/password") == (b"", "text/plain")
    for missing in (
        "openstack/2012-08-10/vendor_data.json",
        "openstack/2013-10-17/network_data.json",
        "openstack/2016-06-30/vendor_data2.json",
        "openstack/2011-01-01/meta_data.json",
        "openstack/latest/nothing.json",
        "openstack/latest/meta_data.json/deeper",
    ):
        with pytest.raises(NotFound):
            mc.render(inst, missing)


def test_network_data_dual_stack(world: World) -> None:
    server_id, (port_id,) = add_server(world)
    inst = instance(world, server_id)
    nic = inst.nics[0]
    v6 = next(f.address for f in nic.fixed_ips if f.subnet.ip_version == 6)
    assert v6.startswith("fd00:1::")
    link = "tap" + port_id[:11]
    assert doc(inst, "openstack/latest/network_data.json") == {
        "links": [
            {
                "id": link,
                "vif_id": port_id,
                "type": "phy",
                "mtu": 1450,
                "ethernet_mac_address": nic.port.mac_address,
            }
        ],
        "networks": [
            {
                "id": "network0",
                "link": link,
                "network_id": world.network_id,
                "type": "ipv4_dhcp",
            },
            {
                "id": "network1",
                "link": link,
                "network_id": world.network_id,
                "type": "ipv6_slaac",
                "ip_address": v6,
                "netmask": "ffff:ffff:ffff:ffff::",
                "routes": [{"network": "::", "netmask": "::", "gateway": "fd00:1::1"}],
                "services": [
                    {"type": "dns", "address": "2001:db8::53"},
                    {"type": "dns", "address": "192.0.2.53"},
                ],
            },
        ],
        "services": [
            {"type": "dns", "address": "192.0.2.53"},
            {"type": "dns", "address": "2001:db8::53"},
        ],
    }


def test_network_data_static_ipv4_and_no_ports(world: World) -> None:
    with world.db.session() as s:
        network = nm.Network(project_id="alice", name="static", mtu=1400)
        s.add(network)
        s.flush()
        s.add(
            nm.Subnet(
                project_id="alice",
                network_id=network.id,
                ip_version=4,
                cidr="10.9.0.0/22",
                gateway_ip="10.9.0.1",
                enable_dhcp=False,
                allocation_pools=[{"start": "10.9.0.20", "end": "10.9.0.30"}],
                host_routes=[{"destination": "172.16.0.0/12", "nexthop": "10.9.0.2"}],
            )
        )
        static_id = network.id
    server_id, (port_id,) = add_server(world, ports_on=[static_id])
    inst = instance(world, server_id)
    data = doc(inst, "openstack/latest/network_data.json")
    assert data["links"][0]["mtu"] == 1400
    assert data["networks"] == [
        {
            "id": "network0",
            "link": "tap" + port_id[:11],
            "network_id": static_id,
            "type": "ipv4",
            "ip_address": "10.9.0.20",
            "netmask": "255.255.252.0",
            "routes": [
                {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.9.0.1"},
                {"network": "172.16.0.0", "netmask": "255.240.0.0", "gateway": "10.9.0.2"},
            ],
            "services": [],
        }
    ]
    assert data["services"] == []
    # no port: no network_data.json at all (an empty one would switch every NIC off)
    bare, _ = add_server(world, ports_on=[])
    bare_inst = instance(world, bare)
    assert "network_data.json" not in text(bare_inst, "openstack/latest").split("\n")
    with pytest.raises(NotFound):
        mc.render(bare_inst, "openstack/latest/network_data.json")
    assert text(bare_inst, "latest/meta-data/local-ipv4") == ""
    assert text(bare_inst, "latest/meta-data/security-groups") == "default"


# -- EC2 layout ------------------------------------------------------------------------


def test_ec2_listings(world: World) -> None:
    server_id, _ = add_server(world)
    inst = instance(world, server_id)
    assert text(inst, "") == "\n".join([*mc.EC2_VERSIONS, "latest"])
    assert text(inst, "/") == text(inst, "")
    assert text(inst, "latest") == "meta-data/\nuser-data"
    assert text(inst, "latest/meta-data/") == "\n".join(
        [
            "ami-id",
            "ami-launch-index",
            "ami-manifest-path",
            "block-device-mapping/",
            "hostname",
            "instance-action",
            "instance-id",
            "instance-type",
            "local-hostname",
            "local-ipv4",
            "placement/",
            "public-hostname",
            "public-ipv4",
            "public-keys/",
            "reservation-id",
            "security-groups",
        ]
    )
    assert text(inst, "latest/meta-data/public-keys/") == "0=mykey"
    assert text(inst, "latest/meta-data/public-keys/0") == "openssh-key"
    assert text(inst, "latest/meta-data/public-keys/0/openssh-key") == KEY
    assert text(inst, "latest/meta-data/placement") == "availability-zone"
    assert text(inst, "latest/meta-data/placement/availability-zone") == "nova"
    assert text(inst, "latest/meta-data/block-device-mapping") == "ami\nephemeral0\nroot\nswap"
    assert text(inst, "latest/meta-data/block-device-mapping/root") == "/dev/vda"
    assert text(inst, "latest/meta-data/block-device-mapping/ami") == "vda"
    assert text(inst, "latest/meta-data/block-device-mapping/ephemeral0") == "/dev/vdb"
    assert text(inst, "latest/meta-data/block-device-mapping/swap") == "/dev/vdc"
    # the oldest version has only what EC2 had then
    assert text(inst, "1.0/meta-data") == "\n".join(
        [
            "ami-id",
            "ami-launch-index",
            "ami-manifest-path",
            "hostname",
            "instance-id",
            "local-ipv4",
            "public-keys/",
            "reservation-id",
            "security-groups",
        ]
    )
    assert "instance-type" in text(inst, "2007-08-29/meta-data").split("\n")
    assert "placement/" not in text(inst, "2007-12-15/meta-data").split("\n")
    assert "instance-action" in text(inst, "2008-09-01/meta-data").split("\n")


def test_ec2_values(world: World) -> None:
    server_id, _ = add_server(world, floating="203.0.113.7")
    inst = instance(world, server_id)
    meta = "2009-04-04/meta-data/"
    assert text(inst, meta + "instance-id") == "i-" + server_id.replace("-", "")[:8]
    assert text(inst, meta + "ami-id") == "ami-5e2f9a10"
    assert text(inst, meta + "ami-launch-index") == "0"
    assert text(inst, meta + "ami-manifest-path") == "FIXME"
    assert text(inst, meta + "instance-type") == "m1.tiny"
    assert text(inst, meta + "instance-action") == "none"
    assert text(inst, meta + "hostname") == "web-server.openstacklocal"
    assert text(inst, meta + "local-hostname") == "web-server.openstacklocal"
    assert text(inst, meta + "public-hostname") == "web-server.openstacklocal"
    assert text(inst, meta + "local-ipv4") == "10.1.0.10"
    assert text(inst, meta + "public-ipv4") == "203.0.113.7"
    assert text(inst, meta + "reservation-id") == "r-1a2b3c4d"
    assert text(inst, meta + "security-groups") == "default"
    for missing in (
        "2010-01-01/meta-data/hostname",
        "latest/meta-data/nothing",
        "latest/meta-data/hostname/deeper",
        "latest/meta-data/public-keys/0/_name",
        "latest/meta-data/public-keys/1",
        "latest/nothing",
        "1.0/meta-data/placement/availability-zone",
    ):
        with pytest.raises(NotFound):
            mc.render(inst, missing)


def test_public_ipv4_empty_without_floating_ip(world: World) -> None:
    server_id, _ = add_server(world)
    assert text(instance(world, server_id), "latest/meta-data/public-ipv4") == ""


# -- config drive ------------------------------------------------------------------------


def test_config_drive_tree(world: World) -> None:
    server_id, _ = add_server(world)
    files = mc.tree(instance(world, server_id), admin_pass="s3cret-pass")
    expected = {
        "ec2/2009-04-04/meta-data.json",
        "ec2/2009-04-04/user-data",
        "ec2/latest/meta-data.json",
        "ec2/latest/user-data",
    }
    names = {
        "2012-08-10": ["meta_data.json", "user_data"],
        "2013-04-04": ["meta_data.json", "user_data"],
        "2013-10-17": ["meta_data.json", "user_data", "vendor_data.json"],
        "2015-10-15": ["meta_data.json", "user_data", "vendor_data.json", "network_data.json"],
    }
    full = [*names["2015-10-15"], "vendor_data2.json"]
    for version in (*mc.OPENSTACK_VERSIONS, "latest"):
        for name in names.get(version, full if version >= "2016-10-06" else names["2015-10-15"]):
            expected.add(f"openstack/{version}/{name}")
    assert set(files) == expected
    assert files["openstack/latest/user_data"] == SCRIPT
    assert files["ec2/latest/user-data"] == SCRIPT
    latest = json.loads(files["openstack/latest/meta_data.json"])
    assert latest["admin_pass"] == "s3cret-pass"
    assert latest["uuid"] == server_id
    assert "admin_pass" not in json.loads(files["openstack/2012-08-10/meta_data.json"])
    ec2 = json.loads(files["ec2/latest/meta-data.json"])
    assert ec2["public-keys"] == {"0": {"openssh-key": KEY}}
    assert ec2["placement"] == {"availability-zone": "nova"}
    assert ec2["security-groups"] == ["default"]
    network = json.loads(files["openstack/latest/network_data.json"])
    assert network["links"][0]["vif_id"] == instance(world, server_id).nics[0].port.id


def test_config_drive_without_user_data(world: World) -> None:
    server_id, _ = add_server(world, user_data=None)
    files = mc.tree(instance(world, server_id))
    assert not [p for p in files if p.endswith(("user_data", "user-data"))]
    assert "admin_pass" not in json.loads(files["openstack/latest/meta_data.json"])


# -- which instance a port sees -------------------------------------------------------------


def test_the_asking_port_decides(world: World) -> None:
    a, (port_a,) = add_server(world, name="a", hostname="a")
    b, (port_b,) = add_server(world, name="b", hostname="b", key=False, user_data=b"only b")

    def answer(port: str, path: str) -> bytes:
        return endpoint.answer(world.db, world.config, port, path)[0]

    assert json.loads(answer(port_a, "openstack/latest/meta_data.json"))["uuid"] == a
    assert json.loads(answer(port_b, "openstack/latest/meta_data.json"))["uuid"] == b
    assert answer(port_a, "openstack/latest/user_data") == SCRIPT
    assert answer(port_b, "latest/user-data") == b"only b"
    assert answer(port_b, "latest/meta-data/hostname") == b"b.openstacklocal"

    # a port of no instance, a non-compute owner, an unknown port: 404 naming the port
    with world.db.session() as s:
        network = s.get(nm.Network, world.network_id)
        assert network is not None
        free = ports.new_port(world.net, s, project_id="alice", network=network).id
        dhcp = ports.new_port(
            world.net,
            s,
            project_id="alice",
            network=network,
            device_owner="network:dhcp",
            device_id=a,
        ).id
    for port in (free, dhcp, "no-such-port"):
        with pytest.raises(NotFound) as err:
            endpoint.answer(world.db, world.config, port, "openstack/latest/meta_data.json")
        assert port in err.value.message

    # a deleted server's port sees nothing either
    with world.db.session() as s:
        row = s.get(cm.Server, a)
        assert row is not None
        row.deleted_at = utcnow()
    with pytest.raises(NotFound) as err:
        endpoint.answer(world.db, world.config, port_a, "latest/meta-data/instance-id")
    assert port_a in err.value.message
    assert answer(port_b, "latest/meta-data/instance-id").startswith(b"i-")


def endpoint_app(world: World, secret: str) -> NuboApp:
    """The /metadata endpoint alone, as nubo serves it."""

    class Compute:
        db = world.db
        config = world.config

    return NuboApp(
        services=[endpoint.build_service()],
        policy=PolicyEngine(),
        authenticator=None,  # type: ignore[arg-type]
        access_log_enabled=False,
        state={"metadata_secret": secret, "compute": Compute()},
    )


def test_metadata_endpoint_over_asgi(world: World) -> None:
    server_id, (port_id,) = add_server(world)
    secret = "test-secret"
    app = endpoint_app(world, secret)
    signed = {"X-Nubo-Port-Id": port_id, "X-Nubo-Port-Id-Signature": endpoint.sign(secret, port_id)}

    async def fetch(path: str, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nubo") as client:
            return await client.get(path, headers=headers)

    def get(path: str, headers: dict[str, str] = signed) -> httpx.Response:
        return anyio.run(fetch, path, headers)

    root = get("/metadata/")
    assert root.status_code == 200 and root.text.split("\n")[-1] == "latest"
    assert root.headers["content-type"].startswith("text/plain")
    assert get("/metadata").text == root.text
    assert get("/metadata/openstack").text.split("\n")[0] == "2012-08-10"
    md = get("/metadata/openstack/latest/meta_data.json")
    assert md.status_code == 200
    assert md.headers["content-type"].startswith("application/json")
    assert md.json()["uuid"] == server_id
    assert get("/metadata/latest/meta-data/").text.split("\n")[0] == "ami-id"
    assert get("/metadata/latest/user-data").content == SCRIPT
    assert get("/metadata/latest/meta-data/nothing").status_code == 404
    # unsigned or forged: refused before anything is looked up
    assert get("/metadata/openstack/latest/meta_data.json", {}).status_code == 403
    forged = {"X-Nubo-Port-Id": port_id, "X-Nubo-Port-Id-Signature": "0" * 64}
    assert get("/metadata/latest/meta-data/hostname", forged).status_code == 403


def test_a_guest_posts_its_password_once(world: World) -> None:
    server_id, (port_id,) = add_server(world)
    _, (other_port,) = add_server(world, name="other", hostname="other")
    secret = "test-secret"
    app = endpoint_app(world, secret)

    def signed(port: str) -> dict[str, str]:
        return {"X-Nubo-Port-Id": port, "X-Nubo-Port-Id-Signature": endpoint.sign(secret, port)}

    async def call(method: str, path: str, port: str, body: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nubo") as client:
            return await client.request(method, path, headers=signed(port), content=body)

    def post(path: str, body: bytes, port: str = port_id) -> httpx.Response:
        return anyio.run(call, "POST", path, port, body)

    def get(path: str, port: str = port_id) -> httpx.Response:
        return anyio.run(call, "GET", path, port, b"")

    encrypted = base64.b64encode(b"\x01" * 256).decode()
    too_large = post("/metadata/openstack/latest/password", b"x" * (mc.PASSWORD_MAX_BYTES + 1))
    assert too_large.status_code == 400
    assert get("/metadata/openstack/latest/password").content == b""
    assert post("/metadata/openstack/2013-04-04/password", encrypted.encode()).status_code == 200
    # every version from Grizzly shows it; the other instance does not see it
    assert get("/metadata/openstack/latest/password").text == encrypted
    assert get("/metadata/openstack/2013-04-04/password").text == encrypted
    assert get("/metadata/openstack/latest/password", other_port).content == b""
    # once: a second post is refused and changes nothing
    again = post("/metadata/openstack/latest/password", b"another")
    assert again.status_code == 409
    assert get("/metadata/openstack/latest/password").text == encrypted
    # Folsom had no password; other paths answer a POST as a GET
    assert post("/metadata/openstack/2012-08-10/password", b"x").status_code == 404
    posted_md = post("/metadata/openstack/latest/meta_data.json", b"ignored")
    assert posted_md.status_code == 200 and posted_md.json()["uuid"] == server_id
    with world.db.reader() as s:
        row = s.get(cm.Server, server_id)
        assert row is not None and row.password == encrypted
    # cleared (os-server-password DELETE), the guest may post again
    with world.db.session() as s:
        row = s.get(cm.Server, server_id)
        assert row is not None
        row.password = None
    assert post("/metadata/openstack/latest/password", b"new").status_code == 200
    assert get("/metadata/openstack/latest/password").text == "new"
