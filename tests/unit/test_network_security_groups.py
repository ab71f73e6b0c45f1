"""Security group rule validation: converters, Neutron's checks and their messages,
canonical values, and what makes two rules the same rule."""

from __future__ import annotations

from typing import Any

import pytest

from nubo.errors import BadRequest, Conflict
from nubo.network.attributes import parse_item
from nubo.network.security_groups import (
    GROUP_ATTRS,
    RULE_ATTRS,
    normalize_rule,
    normalized_cidr,
    rule_key,
)

GROUP = "0c7d6e2a-5f55-4a3e-9d0a-3f3c1a8e2b11"


def parse(**body: Any) -> dict[str, Any]:
    body.setdefault("security_group_id", GROUP)
    body.setdefault("direction", "ingress")
    return parse_item(body, "security_group_rule", RULE_ATTRS)


def rule(**body: Any) -> dict[str, Any]:
    return normalize_rule(parse(**body))


def error(exc_type: type[Exception], **body: Any) -> Any:
    with pytest.raises(exc_type) as info:
        rule(**body)
    return info.value


# -- converters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, None),
        ("any", None),
        ("ANY", None),
        ("tcp", "tcp"),
        ("TCP", "tcp"),
        ("vrrp", "vrrp"),
        (17, "17"),
        ("17", "17"),
        (0, "0"),
        ("255", "255"),
    ],
)
def test_protocols_accepted(given: Any, stored: str | None) -> None:
    assert rule(protocol=given)["protocol"] == stored


@pytest.mark.parametrize("given", ["bad_protocol_name", 256, "256", -1, "-1", "", True, 6.5])
def test_protocols_refused(given: Any) -> None:
    exc = error(BadRequest, protocol=given)
    assert exc.kind == "SecurityGroupRuleInvalidProtocol"
    assert f"Security group rule protocol {given} not supported" in exc.message
    assert "integer representations [0 to 255]" in exc.message


def test_ethertype_is_case_insensitive_and_defaults_to_ipv4() -> None:
    assert rule()["ethertype"] == "IPv4"
    assert rule(ethertype="ipv6")["ethertype"] == "IPv6"
    exc = error(BadRequest, ethertype="bad_ethertype")
    assert exc.kind == "SecurityGroupRuleInvalidEtherType"
    assert exc.message == (
        "Security group rule for ethertype 'bad_ethertype' not supported. "
        "Allowed values are ['IPv4', 'IPv6']."
    )


def test_direction_is_required_and_checked() -> None:
    with pytest.raises(BadRequest, match="Required attribute 'direction' not specified"):
        parse_item({"security_group_id": GROUP}, "security_group_rule", RULE_ATTRS)
    with pytest.raises(BadRequest, match="Invalid input for direction"):
        parse(direction="sideways")


def test_security_group_id_is_required() -> None:
    with pytest.raises(BadRequest, match="Required attribute 'security_group_id'"):
        parse_item({"direction": "egress"}, "security_group_rule", RULE_ATTRS)


@pytest.mark.parametrize("given", [-16, 65536, "x", "", 1.5, True])
def test_port_values_refused(given: Any) -> None:
    exc = error(BadRequest, protocol="tcp", port_range_min=given, port_range_max=80)
    assert exc.kind == "SecurityGroupInvalidPortValue"
    assert exc.message == f"Invalid value for port {given}"


@pytest.mark.parametrize(
    ("given", "stored", "normal"),
    [
        ("10.0.0.0/24", "10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.7/24", "10.0.0.7/24", "10.0.0.0/24"),
        ("10.0.0.7", "10.0.0.7/32", "10.0.0.7/32"),
        ("2001:DB8::1/64", "2001:db8::1/64", "2001:db8::/64"),
        ("0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_remote_ip_prefix_keeps_host_bits_and_normalises(
    given: str, stored: str, normal: str
) -> None:
    ether = "IPv6" if ":" in given else "IPv4"
    value = rule(remote_ip_prefix=given, ethertype=ether)["remote_ip_prefix"]
    assert value == stored
    assert normalized_cidr(value) == normal


@pytest.mark.parametrize("given", ["192.168.1./24", "192.168.1.1/33", "bad_prefix", "256", 5])
def test_remote_ip_prefix_refused(given: Any) -> None:
    exc = error(BadRequest, remote_ip_prefix=given)
    assert exc.kind == "InvalidCIDR"
    assert exc.message == f"Invalid CIDR {given} given as IP prefix."


def test_unknown_attribute_refused() -> None:
    with pytest.raises(BadRequest, match="Unrecognized attribute"):
        parse(colour="red")


# -- ports and ICMP type/code ----------------------------------------------------------


@pytest.mark.parametrize("proto", ["tcp", "udp", "sctp", "dccp", "udplite", "6", "17"])
def test_port_protocols_take_ranges(proto: str) -> None:
    got = rule(protocol=proto, port_range_min=22, port_range_max=80)
    assert (got["port_range_min"], got["port_range_max"]) == (22, 80)
    single = rule(protocol=proto, port_range_min=22, port_range_max=22)
    assert (single["port_range_min"], single["port_range_max"]) == (22, 22)


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (80, 79, "port_range_min must be <= port_range_max"),
        (None, 6, "port_range_min must be <= port_range_max"),
        (6, None, "port_range_min must be <= port_range_max"),
        (0, 80, "Invalid value for port 0"),
    ],
)
def test_port_range_errors(low: Any, high: Any, message: str) -> None:
    exc = error(BadRequest, protocol="tcp", port_range_min=low, port_range_max=high)
    assert message in exc.message


def test_whole_port_range_is_no_range() -> None:
    got = rule(protocol="tcp", port_range_min=1, port_range_max=65535)
    assert got["port_range_min"] is None and got["port_range_max"] is None


def test_ports_need_a_protocol() -> None:
    exc = error(BadRequest, port_range_min=22, port_range_max=22)
    assert exc.kind == "SecurityGroupProtocolRequiredWithPorts"
    assert exc.message == "Must also specify protocol if port range is given."
    exc = error(BadRequest, protocol="any", port_range_min=22, port_range_max=22)
    assert exc.kind == "SecurityGroupProtocolRequiredWithPorts"


@pytest.mark.parametrize("proto", ["gre", "esp", "vrrp", "47"])
def test_other_protocols_have_no_ports(proto: str) -> None:
    exc = error(BadRequest, protocol=proto, port_range_min=1, port_range_max=2)
    assert exc.kind == "SecurityGroupInvalidProtocolForPort"
    assert "Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE." in exc.message


@pytest.mark.parametrize(("low", "high"), [(3, 2), (8, 0), (0, 0), (11, None), (None, None)])
def test_icmp_type_and_code(low: Any, high: Any) -> None:
    got = rule(protocol="icmp", port_range_min=low, port_range_max=high)
    assert (got["port_range_min"], got["port_range_max"]) == (low, high)


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (1, 256, "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."),
        (300, 1, "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."),
        (
            None,
            6,
            "ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing.",
        ),
        (-1, 25, "Invalid value for port -1"),
    ],
)
def test_icmp_errors(low: Any, high: Any, message: str) -> None:
    exc = error(BadRequest, protocol="icmp", port_range_min=low, port_range_max=high)
    assert exc.message == message


# -- ethertype consistency ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"), [("icmp", "ipv6-icmp"), ("icmpv6", "ipv6-icmp"), ("1", "58")]
)
def test_ipv6_icmp_is_canonical(given: str, stored: str) -> None:
    assert rule(ethertype="IPv6", protocol=given)["protocol"] == stored


@pytest.mark.parametrize("proto", ["ipv6-icmp", "icmpv6", "ipv6-frag", "58", "43"])
def test_ipv6_protocols_refused_on_ipv4(proto: str) -> None:
    exc = error(BadRequest, ethertype="IPv4", protocol=proto)
    assert exc.kind == "SecurityGroupEthertypeConflictWithProtocol"
    assert exc.message == f"Invalid ethertype IPv4 for protocol {proto}."


@pytest.mark.parametrize(("ether", "prefix"), [("IPv6", "10.0.0.0/8"), ("IPv4", "2001:db8::/64")])
def test_prefix_must_match_ethertype(ether: str, prefix: str) -> None:
    exc = error(BadRequest, ethertype=ether, remote_ip_prefix=prefix)
    assert exc.kind == "SecurityGroupRuleParameterConflict"
    assert exc.message.startswith(f"Conflicting value ethertype {ether} for CIDR")


def test_one_remote_only() -> None:
    exc = error(BadRequest, remote_ip_prefix="10.0.0.0/8", remote_group_id=GROUP)
    assert exc.kind == "SecurityGroupMultipleRemoteEntites"
    assert "Only one of remote_ip_prefix or remote_group_id" in exc.message


# -- sameness ------------------------------------------------------------------------------


def key(**body: Any) -> tuple[Any, ...]:
    return rule_key(GROUP, rule(**body))


def test_protocol_name_and_number_are_the_same_rule() -> None:
    assert key(protocol="tcp") == key(protocol="6")
    assert key(protocol="udp") != key(protocol="tcp")


def test_any_address_is_no_address() -> None:
    assert key(remote_ip_prefix="0.0.0.0/0") == key()
    assert key(ethertype="IPv6", remote_ip_prefix="::/0") == key(ethertype="IPv6")


def test_prefixes_compare_by_network() -> None:
    assert key(remote_ip_prefix="10.0.0.7/24") == key(remote_ip_prefix="10.0.0.0/24")
    assert key(remote_ip_prefix="10.0.0.0/25") != key(remote_ip_prefix="10.0.0.0/24")


def test_direction_ethertype_and_ports_matter() -> None:
    assert key() != key(direction="egress")
    assert key() != key(ethertype="IPv6")
    assert key(protocol="tcp", port_range_min=22, port_range_max=22) != key(protocol="tcp")


# -- group attributes ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "Default", "DEFAULT"])
def test_group_name_default_is_taken(name: str) -> None:
    with pytest.raises(Conflict) as info:
        parse_item({"name": name}, "security_group", GROUP_ATTRS)
    assert info.value.kind == "SecurityGroupDefaultAlreadyExists"
    assert info.value.message == "Default security group already exists."


@pytest.mark.parametrize("name", [True, "x" * 256, 5])
def test_group_name_must_be_a_short_string(name: Any) -> None:
    with pytest.raises(BadRequest, match="Invalid input for name"):
        parse_item({"name": name}, "security_group", GROUP_ATTRS)


def test_group_shared_is_read_only() -> None:
    with pytest.raises(BadRequest, match="'shared' not allowed in POST"):
        parse_item({"shared": True}, "security_group", GROUP_ATTRS)


def test_group_tags_are_checked() -> None:
    got = parse_item({"tags": ["a", "b", "a"]}, "security_group", GROUP_ATTRS)
    assert got["tags"] == ["a", "b"]
    with pytest.raises(BadRequest, match="Invalid input for tags"):
        parse_item({"tags": ["a,b"]}, "security_group", GROUP_ATTRS)


# -- what the agent gets -----------------------------------------------------------------------


def test_specs_for_a_thousand_ports_in_four_queries() -> None:
    from sqlalchemy import create_engine, event
    from sqlalchemy.orm import Session

    from nubo.db.base import Base
    from nubo.network import models as m
    from nubo.network.security_groups import specs

    engine = create_engine("sqlite://")
    tables = [t for name, t in Base.metadata.tables.items() if name.startswith("net_")]
    Base.metadata.create_all(engine, tables=tables)
    with Session(engine) as s:
        net = m.Network(name="n", project_id="p")
        s.add(net)
        s.flush()
        v4 = m.Subnet(network_id=net.id, cidr="10.0.0.0/16", ip_version=4, project_id="p")
        v6 = m.Subnet(network_id=net.id, cidr="2001:db8::/64", ip_version=6, project_id="p")
        web = m.SecurityGroup(name="web", project_id="p")
        db = m.SecurityGroup(name="db", project_id="p", stateful=False)
        s.add_all([v4, v6, web, db])
        s.flush()
        s.add_all(
            [
                m.SecurityGroupRule(
                    security_group_id=db.id,
                    project_id="p",
                    direction="ingress",
                    ethertype="IPv4",
                    protocol="tcp",
                    port_range_min=5432,
                    port_range_max=5432,
                    remote_group_id=web.id,
                ),
                m.SecurityGroupRule(
                    security_group_id=db.id,
                    project_id="p",
                    direction="ingress",
                    ethertype="IPv4",
                    remote_ip_prefix="192.0.2.9/24",
                ),
            ]
        )
        for i in range(1000):
            pairs = [{"ip_address": "172.16.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]
            port = m.Port(
                network_id=net.id,
                project_id="p",
                mac_address=f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}",
                allowed_address_pairs=pairs if i == 0 else [],
            )
            s.add(port)
            s.flush()
            s.add(m.PortSecurityGroup(port_id=port.id, security_group_id=web.id))
            ip4 = f"10.0.{i // 256}.{i % 256}"
            s.add(
                m.IPAllocation(subnet_id=v4.id, ip_address=ip4, port_id=port.id, network_id=net.id)
            )
            s.add(
                m.IPAllocation(
                    subnet_id=v6.id,
                    ip_address=f"2001:db8::{i:x}",
                    port_id=port.id,
                    network_id=net.id,
                )
            )
        web_id, db_id = web.id, db.id
        s.commit()

        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        got = {g.id: g for g in specs(s)}
    assert len(statements) == 4
    assert set(got) == {web_id, db_id}
    members = got[web_id].member_ips
    assert len(members) == 2001
    assert (
        members[0] == "10.0.0.0" and "172.16.0.0/24" in members and members[-1].startswith("2001")
    )
    assert got[db_id].member_ips == ()
    assert got[db_id].stateful is False
    remote, prefix = got[db_id].rules
    assert (remote.protocol, remote.port_range_min, remote.remote_group_id) == ("tcp", 5432, web_id)
    assert prefix.remote_ip_prefix == "192.0.2.0/24"  # the agent gets the network
    assert got[web_id].rules == ()
