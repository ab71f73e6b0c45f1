"""The OpenStack metadata layout, as nubo-init and cloud-init read it.

A metadata service serves these files under http://169.254.169.254/ and a
config drive (an ISO 9660 filesystem labelled config-2) holds the same
tree. Building them in one place keeps the metadata service, the config
drive writer and the tests on one shape.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nubo.image.guest.process import require, run

CONFIG_DRIVE_LABEL = "config-2"
LATEST = "openstack/latest"


def hostname_for(name: str) -> str:
    """A host name made from an instance name, as Nova does: [a-z0-9-], at most 63."""
    host = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return host or "instance"


def meta_data(
    *,
    instance_id: str,
    name: str,
    hostname: str | None = None,
    public_keys: Mapping[str, str] | None = None,
    project_id: str = "",
    availability_zone: str = "nova",
    launch_index: int = 0,
    meta: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The meta_data.json document of one instance."""
    keys = dict(public_keys or {})
    return {
        "uuid": instance_id,
        "name": name,
        "hostname": hostname or hostname_for(name),
        "launch_index": launch_index,
        "availability_zone": availability_zone,
        "project_id": project_id,
        "public_keys": keys,
        "keys": [{"name": k, "type": "ssh", "data": v} for k, v in keys.items()],
        "meta": dict(meta or {}),
        "devices": [],
    }


def openstack_tree(
    meta: Mapping[str, Any],
    user_data: bytes | None = None,
    *,
    network_data: Mapping[str, Any] | None = None,
    vendor_data: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """Relative path -> content of the openstack/latest/ files.

    No user_data file at all when there is none: the metadata service
    answers 404 for it, which guests take as "no user-data".
    """
    files = {
        f"{LATEST}/meta_data.json": json.dumps(meta).encode(),
        f"{LATEST}/vendor_data.json": json.dumps(dict(vendor_data or {})).encode(),
    }
    # An empty network_data.json would tell cloud-init to configure no NIC
    # at all; without the file it falls back to DHCP on the first one.
    if network_data is not None:
        files[f"{LATEST}/network_data.json"] = json.dumps(dict(network_data)).encode()
    if user_data is not None:
        files[f"{LATEST}/user_data"] = user_data
    return files


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    """Write a metadata tree under root (a metadata server's document root)."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def write_config_drive(path: Path, files: Mapping[str, bytes]) -> None:
    """An ISO 9660 config drive (label config-2, Rock Ridge and Joliet names)."""
    require("genisoimage")
    with tempfile.TemporaryDirectory(prefix=".config-drive-", dir=path.parent) as tmp:
        write_tree(Path(tmp), files)
        run(
            [
                "genisoimage",
                "-quiet",
                "-o",
                path,
                "-V",
                CONFIG_DRIVE_LABEL,
                "-J",
                "-r",
                "-input-charset",
                "utf-8",
                tmp,
            ]
        )


def network_data_dhcp(nics: Mapping[str, int]) -> dict[str, Any]:
    """network_data.json for NICs (MAC -> MTU) that each take DHCP (IPv4).

    cloud-init configures the NICs from it, MTU included; nubo-init uses
    DHCP regardless.
    """
    links = []
    networks = []
    for i, (mac, mtu) in enumerate(nics.items()):
        links.append(
            {"id": f"tap{i}", "type": "phy", "ethernet_mac_address": mac.lower(), "mtu": mtu}
        )
        networks.append(
            {"id": f"network{i}", "link": f"tap{i}", "type": "ipv4_dhcp", "network_id": f"net{i}"}
        )
    return {"links": links, "networks": networks, "services": []}
