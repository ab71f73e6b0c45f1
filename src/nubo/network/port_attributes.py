"""The attributes a port request may carry, with their converters and checks (fixed
IPs, address pairs, extra DHCP options, DNS names, bindings)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nubo.errors import BadRequest
from nubo.network.attributes import (
    DESCRIPTION,
    NAME,
    PROJECT,
    Attr,
    Invalid,
    anything,
    boolean,
    mac_address,
    one_of,
    string,
    uuid_str,
)

VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
)
# Neutron's defaults of max_fixed_ips_per_port and max_allowed_address_pair
MAX_FIXED_IPS = 5
MAX_ADDRESS_PAIRS = 10
# DHCP options that may carry an empty value (Neutron's VALID_BLANK_EXTRA_DHCP_OPTS)
BLANK_DHCP_OPTS = ("router", "classless-static-route")


def _fixed_ips(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise Invalid(f"Invalid data format for fixed IP: '{value}'")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, dict) or set(item) - {"subnet_id", "ip_address"}:
            raise Invalid(f"Invalid data format for fixed IP: '{item}'")
        entry: dict[str, str] = {}
        if item.get("subnet_id") is not None:
            entry["subnet_id"] = uuid_str(item["subnet_id"])
        if item.get("ip_address") is not None:
            raw = item["ip_address"]
            try:
                ip = str(ipaddress.ip_address(raw)) if isinstance(raw, str) else ""
            except ValueError:
                ip = ""
            if not ip:
                raise Invalid(f"'{raw}' is not a valid IP address")
            if ip in seen:
                raise Invalid(f"Duplicate IP address '{ip}'")
            seen.add(ip)
            entry["ip_address"] = ip
        out.append(entry)
    if len(out) > MAX_FIXED_IPS:
        raise BadRequest("Exceeded maximum amount of fixed ips per port.")
    return out


def _group_ids(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid(f"'{value}' is not a list")
    return list(dict.fromkeys(uuid_str(v) for v in value))


def _pair_address(value: Any) -> str:
    """An address or a network as Neutron keeps it (host bits and all)."""
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP address")
    try:
        if "/" in value:
            return str(ipaddress.ip_interface(value))
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise BadRequest(f"'{value}' is not a valid IP address or CIDR.") from None


def _address_pairs(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("Allowed address pairs must be a list.")
    if len(value) > MAX_ADDRESS_PAIRS:
        raise BadRequest(
            f"The number of allowed address pair exceeds the maximum {MAX_ADDRESS_PAIRS}.",
            kind="AllowedAddressPairExhausted",
        )
    out: list[dict[str, str]] = []
    for pair in value:
        if not isinstance(pair, dict):
            raise Invalid(f"'{pair}' is not a dictionary")
        unknown = sorted(set(pair) - {"ip_address", "mac_address"})
        if unknown:
            raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        if "ip_address" not in pair:
            raise BadRequest(
                "AllowedAddressPair must contain ip_address", kind="AllowedAddressPairsMissingIP"
            )
        entry = {"ip_address": _pair_address(pair["ip_address"])}
        if pair.get("mac_address") is not None:
            try:
                entry["mac_address"] = mac_address(pair["mac_address"])
            except Invalid as exc:
                raise BadRequest(str(exc)) from None
        out.append(entry)
    check_pairs(out)
    return out


def check_pairs(pairs: Sequence[Mapping[str, str]]) -> None:
    seen: set[tuple[str | None, str]] = set()
    for pair in pairs:
        key = (pair.get("mac_address"), pair["ip_address"])
        if key in seen:
            raise BadRequest(
                f"Request contains duplicate address pair: mac_address {key[0]} "
                f"ip_address {key[1]}.",
                kind="DuplicateAddressPairInRequest",
            )
        seen.add(key)


def _dhcp_opts_bad(data: Any) -> BadRequest:
    return BadRequest(
        f"Invalid data format for extra-dhcp-opt: {data}.", kind="ExtraDhcpOptBadData"
    )


def _dhcp_opts(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _dhcp_opts_bad(value)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for opt in value:
        if not isinstance(opt, dict) or set(opt) - {"opt_name", "opt_value", "ip_version", "id"}:
            raise _dhcp_opts_bad(opt)
        name = opt.get("opt_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise _dhcp_opts_bad(f"'{name}' is not a valid option name")
        if "opt_value" not in opt:
            raise _dhcp_opts_bad(f"opt_value of {name} missing")
        val = opt["opt_value"]
        if val is not None:
            if not isinstance(val, str) or len(val) > 255:
                raise _dhcp_opts_bad(f"'{val}' is not a valid value for {name}")
            if not val.strip() and name not in BLANK_DHCP_OPTS:
                raise _dhcp_opts_bad(f"'{val}' Blank strings are not permitted")
        version = opt.get("ip_version", 4)
        try:
            version = int(version) if version is not None else 4
        except (TypeError, ValueError):
            raise _dhcp_opts_bad(f"'{version}' is not in [4, 6]") from None
        if version not in (4, 6):
            raise _dhcp_opts_bad(f"'{version}' is not in [4, 6]")
        if (name, version) in seen:
            raise _dhcp_opts_bad(f"duplicate option {name} for IPv{version}")
        seen.add((name, version))
        out.append({"opt_name": name, "opt_value": val, "ip_version": version})
    return out


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def dns_name(value: Any) -> str:
    """A hostname or FQDN (RFC 1123 labels), lower-cased as Neutron stores it."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid string")
    data = value.lower()
    if not data:
        return ""
    trimmed = data[:-1] if data.endswith(".") else data
    reason = ""
    labels = trimmed.split(".")
    if len(trimmed) > 255:
        reason = f"'{trimmed}' exceeds the 255 character FQDN limit"
    elif any(not label for label in labels):
        reason = "Encountered an empty component"
    else:
        for label in labels:
            if label.startswith("-") or label.endswith("-"):
                reason = f"Name '{label}' must not start or end with a hyphen"
                break
            if not _LABEL.match(label):
                reason = (
                    f"Name '{label}' must be 1-63 characters long, each of which can only "
                    "be alphanumeric or a hyphen"
                )
                break
        else:
            if len(labels) > 1 and labels[-1].isdigit():
                reason = f"TLD '{labels[-1]}' must not be all numeric"
    if reason:
        raise Invalid(f"'{value}' not a valid PQDN or FQDN. Reason: {reason}")
    return data


def _host(value: Any) -> str:
    return "" if value is None else string(255)(value)


def _profile(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"'{value}' is not a dictionary")
    return value


ATTRS: dict[str, Attr] = {
    "id": Attr(anything, post=False, put=False),
    "network_id": Attr(uuid_str, put=False, required=True),
    "name": NAME,
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "admin_state_up": Attr(boolean),
    "status": Attr(anything, post=False, put=False),
    "mac_address": Attr(mac_address),
    "fixed_ips": Attr(_fixed_ips),
    "device_id": Attr(string(255)),
    "device_owner": Attr(string(255)),
    "security_groups": Attr(_group_ids),
    "port_security_enabled": Attr(boolean),
    "allowed_address_pairs": Attr(_address_pairs),
    "extra_dhcp_opts": Attr(_dhcp_opts),
    "dns_name": Attr(dns_name),
    "binding:host_id": Attr(_host),
    "binding:profile": Attr(_profile),
    "binding:vnic_type": Attr(one_of(*VNIC_TYPES)),
    "binding:vif_type": Attr(anything, post=False, put=False),
    "binding:vif_details": Attr(anything, post=False, put=False),
    "propagate_uplink_status": Attr(boolean),
}
