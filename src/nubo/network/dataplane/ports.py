"""Port devices: the veth pairs (containers) and taps (QEMU) that ``plug`` makes.

The bridge end is always ``port.device`` in the bridge namespace of the port's
network; ``apply`` later keeps it on its bridge with the network's MTU.
"""

from __future__ import annotations

import logging

from nubo.network.dataplane.layout import bridge_name
from nubo.network.dataplane.netns import ensure_namespace, ip, link_exists, namespace_exists
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    EXTERNAL_NS,
    NetworkSpec,
    PortSpec,
    link_name,
)

log = logging.getLogger(__name__)

KINDS = ("veth", "tap")


def make_port_device(
    port: PortSpec, kind: str, netns: str | None, network: NetworkSpec | None
) -> str:
    """Create (or repair) the port's device and return the name the instance uses:
    the veth end moved into ``netns`` (with the port's MAC), or the tap itself.

    ``network`` (when known) gives the namespace, MTU and bridge; unknown, the
    device goes to the tenant namespace and ``apply`` moves it if need be.
    Raises DataplaneError when the kernel refuses.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown port kind {kind!r}")
    if kind == "veth" and not netns:
        raise ValueError("a veth port needs the namespace of its instance end")
    ns = network.namespace if network is not None else DATAPLANE_NS
    ensure_namespace(ns)
    device = port.device
    exists = link_exists(ns, device)
    mtu = ["mtu", str(network.mtu)] if network is not None else []
    result = device
    if netns and kind == "veth":
        inner = link_name("i", port.id)
        if exists and not link_exists(netns, inner):
            ip(ns, "link", "del", device)  # a half pair: make it again
            exists = False
        if not exists:
            ip(ns, "link", "add", device, "type", "veth", "peer", "name", inner, "netns", netns)
        ip(netns, "link", "set", inner, "address", port.mac_address.lower(), *mtu, "up")
        result = inner
    elif not exists:
        ip(ns, "tuntap", "add", "mode", "tap", "name", device)
    master = []
    if network is not None and link_exists(ns, bridge_name(network.id)):
        master = ["master", bridge_name(network.id)]
    state = "up" if port.admin_state_up else "down"
    ip(ns, "link", "set", device, *mtu, *master, state)
    log.debug("dataplane: plugged %s port %s as %s in %s", kind, port.id, device, ns)
    return result


def remove_port_device(port_id: str) -> None:
    """Delete the port's device wherever nubo keeps it (a veth's peer goes too)."""
    device = link_name("t", port_id)
    for ns in (DATAPLANE_NS, EXTERNAL_NS):
        if namespace_exists(ns) and link_exists(ns, device):
            ip(ns, "link", "del", device, check=False)
            log.debug("dataplane: unplugged %s from %s", device, ns)
