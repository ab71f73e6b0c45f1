"""What an instance reads about itself: the OpenStack and EC2 metadata trees.

The same content reaches a guest two ways: the metadata service (169.254.169.254,
proxied to nubo's ``/metadata`` with the asking port's id) looks single files up with
``render``, and a config drive holds the whole ``tree``. Both are built here from the
database rows of one server (``load`` gathers them into an ``Instance``); everything
past ``load`` is pure: no HTTP, no database.

Layouts follow Nova's metadata API: ``openstack/<version>/{meta_data.json, user_data,
password, vendor_data.json, network_data.json, vendor_data2.json}`` for the OpenStack
versions, ``<version>/meta-data/...`` and ``<version>/user-data`` for the EC2 ones, with
each file appearing from the version that introduced it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import models as cm
from nubo.config import Config
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.image.guest.metadata import hostname_for
from nubo.network import models as nm

OPENSTACK_VERSIONS = (
    "2012-08-10",  # Folsom
    "2013-04-04",  # Grizzly: random_seed, password
    "2013-10-17",  # Havana: vendor_data.json
    "2015-10-15",  # Liberty: project_id, network_data.json
    "2016-06-30",  # Newton: devices
    "2016-10-06",  # Newton: vendor_data2.json
    "2017-02-22",  # Ocata
    "2018-08-27",  # Rocky
    "2020-10-14",  # Victoria: dedicated_cpus
)
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
LATEST = "latest"
# Nova leaves the old EC2 versions off a config drive (config_drive_skip_versions)
CONFIG_DRIVE_EC2_VERSIONS = ("2009-04-04", LATEST)

GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, VICTORIA = (
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2020-10-14",
)

META_DATA = "meta_data.json"
USER_DATA = "user_data"
PASSWORD = "password"
# Nova keeps a posted password in four system-metadata items of 255 characters
PASSWORD_MAX_BYTES = 4 * 255
VENDOR_DATA = "vendor_data.json"
NETWORK_DATA = "network_data.json"
VENDOR_DATA2 = "vendor_data2.json"

JSON = "application/json"
TEXT = "text/plain"

# A node of the EC2 tree: a value, a list of values (one per line) or a directory.
# A directory may carry "_name", what its parent's listing shows instead of "<key>/"
# (public-keys/ lists "0=mykey").
Ec2Node: TypeAlias = str | list[str] | dict[str, "Ec2Node"]


# -- the rows an instance's content is made of --------------------------------------------


@dataclass(frozen=True)
class FixedIp:
    address: str
    subnet: nm.Subnet


@dataclass
class Nic:
    """One of the server's ports, with what hangs off it."""

    port: nm.Port
    network: nm.Network
    fixed_ips: list[FixedIp] = field(default_factory=list)
    floating_ips: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)


@dataclass
class Instance:
    """Everything the metadata of one server is built from."""

    server: cm.Server
    nics: list[Nic] = field(default_factory=list)
    key_type: str = "ssh"
    dns_domain: str = ""
    default_zone: str = "nova"


def server_of_port(s: Session, port_id: str, for_update: bool = False) -> cm.Server | None:
    """The live server a port is plugged into (None for any other port); row-locked
    ``for_update``."""
    port = s.get(nm.Port, port_id)
    if port is None or not port.device_owner.startswith("compute:") or not port.device_id:
        return None
    server = s.get(cm.Server, port.device_id, with_for_update=for_update or None)
    if server is None or server.deleted_at is not None:
        return None
    return server


def load(s: Session, server: cm.Server, config: Config) -> Instance:
    """Gather a server's ports, addresses, floating IPs, groups and key type."""
    ports = s.scalars(
        select(nm.Port)
        .where(nm.Port.device_id == server.id, nm.Port.device_owner.like("compute:%"))
        .order_by(nm.Port.created_at, nm.Port.id)
    ).all()
    nics: list[Nic] = []
    for port in ports:
        network = s.get(nm.Network, port.network_id)
        if network is None:
            continue
        allocations = s.execute(
            select(nm.IPAllocation.ip_address, nm.Subnet)
            .join(nm.Subnet, nm.Subnet.id == nm.IPAllocation.subnet_id)
            .where(nm.IPAllocation.port_id == port.id)
            .order_by(nm.Subnet.ip_version, nm.Subnet.created_at, nm.Subnet.id)
        ).all()
        floating = s.scalars(
            select(nm.FloatingIp.floating_ip_address)
            .where(nm.FloatingIp.fixed_port_id == port.id)
            .order_by(nm.FloatingIp.created_at, nm.FloatingIp.id)
        ).all()
        groups = s.scalars(
            select(nm.SecurityGroup.name)
            .join(
                nm.PortSecurityGroup,
                nm.PortSecurityGroup.security_group_id == nm.SecurityGroup.id,
            )
            .where(nm.PortSecurityGroup.port_id == port.id)
            .order_by(nm.SecurityGroup.name)
        ).all()
        nics.append(
            Nic(
                port=port,
                network=network,
                fixed_ips=[FixedIp(ip, subnet) for ip, subnet in allocations],
                floating_ips=list(floating),
                security_groups=list(groups),
            )
        )
    key_type = "ssh"
    if server.key_name:
        key = s.scalars(
            select(cm.KeyPair).where(
                cm.KeyPair.user_id == server.user_id, cm.KeyPair.name == server.key_name
            )
        ).first()
        if key is not None:
            key_type = key.type
    return Instance(
        server=server,
        nics=nics,
        key_type=key_type,
        dns_domain=config.network.dns_domain,
        default_zone=config.compute.availability_zone,
    )


# -- shared pieces --------------------------------------------------------------------------


def _newer(version: str, since: str, versions: Sequence[str]) -> bool:
    """Whether ``version`` (or latest) includes what ``since`` introduced."""
    return version == LATEST or versions.index(version) >= versions.index(since)


def user_data(instance: Instance) -> bytes | None:
    """The user data as the guest gets it: decoded from the base64 it was given in."""
    raw = instance.server.user_data
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=False)
    except (binascii.Error, ValueError):
        # the API checks it is base64; a row written otherwise is passed on as it is
        return raw.encode()


def hostname(instance: Instance) -> str:
    """The fully qualified host name (Nova appends its DHCP domain)."""
    server = instance.server
    short = server.hostname or hostname_for(server.name)
    domain = instance.dns_domain.strip(".")
    return f"{short}.{domain}" if domain else short


def availability_zone(instance: Instance) -> str:
    return instance.server.availability_zone or instance.default_zone


def _ec2_id(prefix: str, uuid_text: str) -> str:
    digits = uuid_text.replace("-", "")[:8]
    try:
        return f"{prefix}-{int(digits, 16):08x}"
    except ValueError:
        return f"{prefix}-00000000"


def instance_ec2_id(instance: Instance) -> str:
    """``i-%08x`` from the server's UUID."""
    return _ec2_id("i", instance.server.id)


def security_group_names(instance: Instance) -> list[str]:
    names = [g for nic in instance.nics for g in nic.security_groups]
    if not instance.nics:
        names = list(instance.server.security_groups or [])
    return list(dict.fromkeys(names))


# -- OpenStack layout ------------------------------------------------------------------------


def meta_data(
    instance: Instance,
    version: str = LATEST,
    *,
    admin_pass: str | None = None,
    random_seed: bytes | None = None,
) -> dict[str, Any]:
    """The meta_data.json document for one OpenStack version."""
    server = instance.server
    keys: list[dict[str, str]] = []
    public_keys: dict[str, str] = {}
    if server.key_name and server.key_data:
        public_keys[server.key_name] = server.key_data
        keys.append({"name": server.key_name, "type": instance.key_type, "data": server.key_data})
    doc: dict[str, Any] = {
        "uuid": server.id,
        "meta": dict(server.metadata_items or {}),
        "public_keys": public_keys,
        "keys": keys,
        "hostname": hostname(instance),
        "name": server.name,
        "launch_index": server.launch_index,
        "availability_zone": availability_zone(instance),
    }
    if admin_pass and _newer(version, GRIZZLY, OPENSTACK_VERSIONS):
        doc["admin_pass"] = admin_pass
    if _newer(version, GRIZZLY, OPENSTACK_VERSIONS):
        seed = random_seed if random_seed is not None else secrets.token_bytes(512)
        doc["random_seed"] = base64.b64encode(seed).decode()
    if _newer(version, LIBERTY, OPENSTACK_VERSIONS):
        doc["project_id"] = server.project_id
    if _newer(version, NEWTON_ONE, OPENSTACK_VERSIONS):
        doc["devices"] = []
    if _newer(version, VICTORIA, OPENSTACK_VERSIONS):
        doc["dedicated_cpus"] = []
    return doc


def _netmask(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr, strict=False).netmask)


def _routes(subnet: nm.Subnet) -> list[dict[str, str]]:
    routes = []
    if subnet.gateway_ip:
        anywhere = "0.0.0.0" if subnet.ip_version == 4 else "::"
        routes.append({"network": anywhere, "netmask": anywhere, "gateway": subnet.gateway_ip})
    for route in subnet.host_routes or []:
        net = ipaddress.ip_network(route["destination"], strict=False)
        routes.append(
            {
                "network": str(net.network_address),
                "netmask": str(net.netmask),
                "gateway": route["nexthop"],
            }
        )
    return routes


def _dns(subnet: nm.Subnet) -> list[dict[str, str]]:
    return [{"type": "dns", "address": a} for a in subnet.dns_nameservers or []]


def link_id(port_id: str) -> str:
    """The interface name Nova gives a port's tap: tap + 11 characters of its id."""
    return "tap" + port_id[:11]


def network_data(instance: Instance) -> dict[str, Any] | None:
    """network_data.json: one link per port, one network per address; None without ports
    (an empty document would tell cloud-init to configure no NIC at all)."""
    if not instance.nics:
        return None
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for nic in instance.nics:
        port = nic.port
        link = link_id(port.id)
        links.append(
            {
                "id": link,
                "vif_id": port.id,
                "type": "ovs" if port.binding_vif_type == "ovs" else "phy",
                "mtu": nic.network.mtu,
                "ethernet_mac_address": port.mac_address,
            }
        )
        for fixed in nic.fixed_ips:
            subnet = fixed.subnet
            entry: dict[str, Any] = {
                "id": f"network{len(networks)}",
                "link": link,
                "network_id": nic.network.id,
            }
            if subnet.ip_version == 6 and subnet.ipv6_address_mode:
                entry["type"] = f"ipv6_{subnet.ipv6_address_mode}"
            elif subnet.ip_version == 4 and subnet.enable_dhcp:
                # the guest asks DHCP, which hands out the same address, routes and DNS
                entry["type"] = "ipv4_dhcp"
                networks.append(entry)
                services.extend(_dns(subnet))
                continue
            else:
                entry["type"] = f"ipv{subnet.ip_version}"
            entry["ip_address"] = fixed.address
            entry["netmask"] = _netmask(subnet.cidr)
            entry["routes"] = _routes(subnet)
            entry["services"] = _dns(subnet)
            networks.append(entry)
            services.extend(_dns(subnet))
    unique = list({s["address"]: s for s in services}.values())
    return {"links": links, "networks": networks, "services": unique}


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def openstack_files(
    instance: Instance,
    version: str,
    *,
    admin_pass: str | None = None,
    random_seed: bytes | None = None,
) -> dict[str, bytes]:
    """The files of ``openstack/<version>/``, in Nova's listing order."""
    files = {
        META_DATA: _json(
            meta_data(instance, version, admin_pass=admin_pass, random_seed=random_seed)
        )
    }
    data = user_data(instance)
    if data is not None:
        files[USER_DATA] = data
    if _newer(version, GRIZZLY, OPENSTACK_VERSIONS):
        files[PASSWORD] = (instance.server.password or "").encode()
    if _newer(version, HAVANA, OPENSTACK_VERSIONS):
        files[VENDOR_DATA] = _json({})
    if _newer(version, LIBERTY, OPENSTACK_VERSIONS):
        network = network_data(instance)
        if network is not None:
            files[NETWORK_DATA] = _json(network)
    if _newer(version, NEWTON_TWO, OPENSTACK_VERSIONS):
        files[VENDOR_DATA2] = _json({})
    return files


# -- EC2 layout ---------------------------------------------------------------------------


def _block_device_mapping(server: cm.Server) -> dict[str, Ec2Node]:
    mapping: dict[str, Ec2Node] = {"ami": "vda", "root": "/dev/vda"}
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    flavor = server.flavor or {}
    if flavor.get("ephemeral_gb"):
        mapping["ephemeral0"] = f"/dev/vd{next(letters)}"
    if flavor.get("swap_mb"):
        mapping["swap"] = f"/dev/vd{next(letters)}"
    return mapping


def ec2_meta_data(instance: Instance, version: str = LATEST) -> dict[str, Ec2Node]:
    """The ``meta-data/`` tree of one EC2 version."""
    server = instance.server
    fqdn = hostname(instance)
    v4 = [f.address for nic in instance.nics for f in nic.fixed_ips if f.subnet.ip_version == 4]
    floating = [a for nic in instance.nics for a in nic.floating_ips]
    md: dict[str, Ec2Node] = {
        "ami-id": _ec2_id("ami", server.image_id) if server.image_id else "ami-00000000",
        "ami-launch-index": str(server.launch_index),
        "ami-manifest-path": "FIXME",
        "instance-id": instance_ec2_id(instance),
        "hostname": fqdn,
        "local-ipv4": v4[0] if v4 else "",
        "reservation-id": server.reservation_id or "",
        "security-groups": security_group_names(instance),
    }
    if server.key_name and server.key_data:
        md["public-keys"] = {"0": {"_name": f"0={server.key_name}", "openssh-key": server.key_data}}
    if _newer(version, "2007-01-19", EC2_VERSIONS):
        md["local-hostname"] = fqdn
        md["public-hostname"] = fqdn
        md["public-ipv4"] = floating[0] if floating else ""
    if _newer(version, "2007-08-29", EC2_VERSIONS):
        md["instance-type"] = str((server.flavor or {}).get("name", ""))
    if _newer(version, "2007-12-15", EC2_VERSIONS):
        md["block-device-mapping"] = _block_device_mapping(server)
    if _newer(version, "2008-02-01", EC2_VERSIONS):
        md["placement"] = {"availability-zone": availability_zone(instance)}
    if _newer(version, "2008-09-01", EC2_VERSIONS):
        md["instance-action"] = "none"
    return md


def ec2_listing(node: Mapping[str, Ec2Node]) -> str:
    """A directory as EC2 prints it: one entry per line, sorted, directories with a
    trailing slash (or their ``_name``)."""
    lines = []
    for key in sorted(node):
        if key == "_name":
            continue
        value = node[key]
        if isinstance(value, dict):
            name = value.get("_name")
            lines.append(name if isinstance(name, str) else key + "/")
        else:
            lines.append(key)
    return "\n".join(lines)


def _ec2_value(node: Ec2Node) -> str:
    if isinstance(node, dict):
        return ec2_listing(node)
    if isinstance(node, list):
        return "\n".join(node)
    return node


def _without_names(node: Ec2Node) -> Any:
    if isinstance(node, dict):
        return {k: _without_names(v) for k, v in node.items() if k != "_name"}
    return node


# -- the two ways out ---------------------------------------------------------------------


def tree(instance: Instance, *, admin_pass: str | None = None) -> dict[str, bytes]:
    """Every file of a config drive, by path (``openstack/<version>/...`` and
    ``ec2/<version>/...``), as Nova writes one."""
    files: dict[str, bytes] = {}
    seed = secrets.token_bytes(512)
    for version in CONFIG_DRIVE_EC2_VERSIONS:
        data = user_data(instance)
        if data is not None:
            files[f"ec2/{version}/user-data"] = data
        files[f"ec2/{version}/meta-data.json"] = _json(
            _without_names(ec2_meta_data(instance, version))
        )
    for version in (*OPENSTACK_VERSIONS, LATEST):
        for name, content in openstack_files(
            instance, version, admin_pass=admin_pass, random_seed=seed
        ).items():
            if name != PASSWORD:  # the password is posted to the service, not on a disk
                files[f"openstack/{version}/{name}"] = content
    return files


def ec2_versions() -> bytes:
    return "\n".join((*EC2_VERSIONS, LATEST)).encode()


def openstack_versions() -> bytes:
    return "\n".join((*OPENSTACK_VERSIONS, LATEST)).encode()


def _not_found(path: str) -> NotFound:
    return NotFound(f"No metadata at /{path}.")


def is_password_path(path: str) -> bool:
    """Whether ``path`` is an OpenStack version's ``password``, the one file a guest
    may write (POST)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) != 3 or parts[0] != "openstack" or parts[2] != PASSWORD:
        return False
    version = parts[1]
    return (version == LATEST or version in OPENSTACK_VERSIONS) and _newer(
        version, GRIZZLY, OPENSTACK_VERSIONS
    )


def post_password(server: cm.Server, body: bytes) -> None:
    """Keep the (encrypted) password a guest posts, once, as Nova does: 409 while one is
    set (until ``os-server-password`` clears it), 400 when too large."""
    if server.password:
        raise Conflict("A password is already set for this instance.")
    if len(body) > PASSWORD_MAX_BYTES:
        raise BadRequest("Request is too large.")
    try:
        server.password = body.decode()
    except UnicodeDecodeError:
        raise BadRequest("The password must be text.") from None


def render(instance: Instance, path: str) -> tuple[bytes, str]:
    """One answer of the metadata service: (body, content type) for a path relative to
    its root (``openstack/latest/meta_data.json``, ``latest/meta-data/hostname``, ...).
    Raises NotFound for anything else."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        return ec2_versions(), TEXT
    if parts[0] == "openstack":
        return _render_openstack(instance, parts[1:], path)
    return _render_ec2(instance, parts, path)


def _render_openstack(instance: Instance, parts: list[str], path: str) -> tuple[bytes, str]:
    if not parts:
        return openstack_versions(), TEXT
    version = parts[0]
    if version not in OPENSTACK_VERSIONS and version != LATEST:
        raise _not_found(path)
    files = openstack_files(instance, version)
    if len(parts) == 1:
        return "\n".join(files).encode(), TEXT
    if len(parts) == 2 and parts[1] in files:
        return files[parts[1]], JSON if parts[1].endswith(".json") else TEXT
    raise _not_found(path)


def _render_ec2(instance: Instance, parts: list[str], path: str) -> tuple[bytes, str]:
    version = parts[0]
    if version not in EC2_VERSIONS and version != LATEST:
        raise _not_found(path)
    data = user_data(instance)
    top: dict[str, Ec2Node] = {"meta-data": ec2_meta_data(instance, version)}
    if len(parts) == 1:
        listing = ec2_listing(top) + ("\nuser-data" if data is not None else "")
        return listing.encode(), TEXT
    if parts[1] == "user-data" and len(parts) == 2:
        if data is None:
            raise _not_found(path)
        return data, TEXT
    node: Ec2Node = top
    for part in parts[1:]:
        if not isinstance(node, dict) or part == "_name" or part not in node:
            raise _not_found(path)
        node = node[part]
    return _ec2_value(node).encode(), TEXT
