"""A container's NICs: the instance's network namespace (``nubo-inst-<id>``) and
the veths the network agent's plugger moves into it, named eth0, eth1 ... in
port order."""

from __future__ import annotations

from nubo.compute.drivers.base import DriverError, Nic, Plugger
from nubo.compute.drivers.container_launch import netns_name
from nubo.network.dataplane import netns


def ensure_netns(instance_id: str) -> str:
    """The instance's network namespace, made if missing. Returns its name."""
    name = netns_name(instance_id)
    try:
        netns.ensure_namespace(name)
    except netns.DataplaneError as exc:
        raise DriverError(f"Cannot create network namespace {name}: {exc}") from exc
    return name


def ethernet_links(ns: str) -> dict[str, str]:
    """MAC address -> device name of the Ethernet devices in the namespace."""
    try:
        links = netns.dump_json(ns, "link", "show")
    except netns.DataplaneError as exc:
        raise DriverError(f"Cannot list the devices of {ns}: {exc}") from exc
    return {
        str(link.get("address", "")).lower(): str(link["ifname"])
        for link in links
        if link.get("link_type") == "ether" and "ifname" in link
    }


def plug(ns: str, nic: Nic, index: int, plugger: Plugger) -> str:
    """Make sure the NIC's device is in the namespace (plugging it when it is not),
    named eth<index> when that name is free. Returns its name."""
    links = ethernet_links(ns)
    device = links.get(nic.mac_address.lower())
    if device is None:
        device = plugger.plug(nic.port_id, "veth", ns)
        links = ethernet_links(ns)
    wanted = f"eth{index}"
    if device != wanted and wanted not in links.values():
        try:
            netns.ip(ns, "link", "set", device, "down")
            netns.ip(ns, "link", "set", device, "name", wanted)
            netns.ip(ns, "link", "set", wanted, "up")
        except netns.DataplaneError as exc:
            raise DriverError(f"Cannot rename {device} to {wanted}: {exc}") from exc
        device = wanted
    return device


def remove_device(ns: str, device: str) -> None:
    """Delete the instance's end of a veth pair if it is still there (the plugger
    removing its end takes this one too; this makes sure)."""
    if netns.namespace_exists(ns) and netns.link_exists(ns, device):
        netns.ip(ns, "link", "del", device, check=False)
