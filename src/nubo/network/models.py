"""Network tables: networks, subnets, ports and their addresses, routers, floating IPs,
security groups, subnet pools, address scopes, RBAC, quotas, tags and agents.

Every user-visible resource carries Neutron's standard attributes (description,
created_at, updated_at, revision_number) through ``Standard``. Some columns hold a
JSON list where Neutron has a side table (host routes, allocation pools, address
pairs): they are always read and written whole with their resource.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nubo.db.base import Base, JSONText, UTCDateTime, utcnow

ID = String(36)
PROJECT = String(64)


def new_uuid() -> str:
    """Neutron's ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Standard:
    """Neutron's standard attributes."""

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")


class Network(Standard, Base):
    __tablename__ = "net_networks"

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    mtu: Mapped[int] = mapped_column(Integer, default=1450)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(16), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    # router:external; sharing and per-project external access live in RBAC rows
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    dns_domain: Mapped[str] = mapped_column(String(255), default="")
    availability_zone_hints: Mapped[list[str]] = mapped_column(JSONText, default=list)


class Segment(Base):
    """One row per taken (type, physical network, id): a flat physical network or a
    VXLAN id belongs to one network at a time, whatever writers race."""

    __tablename__ = "net_segments"

    network_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    segmentation_id: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_networks.id", ondelete="CASCADE"), index=True
    )


class Subnet(Standard, Base):
    __tablename__ = "net_subnets"

    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_networks.id", ondelete="CASCADE"), index=True
    )
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"start": ip, "end": ip}], ordered
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSONText, default=list)
    # [{"destination": cidr, "nexthop": ip}]
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    subnetpool_id: Mapped[str | None] = mapped_column(ID, index=True)
    service_types: Mapped[list[str]] = mapped_column(JSONText, default=list)
    dns_publish_fixed_ip: Mapped[bool] = mapped_column(Boolean, default=False)


class SubnetPool(Standard, Base):
    __tablename__ = "net_subnet_pools"

    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    prefixes: Mapped[list[str]] = mapped_column(JSONText, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    default_quota: Mapped[int | None] = mapped_column(Integer)
    address_scope_id: Mapped[str | None] = mapped_column(ID, index=True)


class AddressScope(Standard, Base):
    __tablename__ = "net_address_scopes"

    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)


class Port(Standard, Base):
    __tablename__ = "net_ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)

    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_networks.id", ondelete="CASCADE"), index=True
    )
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="", index=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"ip_address": ip-or-cidr, "mac_address": mac}]
    allowed_address_pairs: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    # [{"opt_name", "opt_value", "ip_version"}]
    extra_dhcp_opts: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vif_details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    propagate_uplink_status: Mapped[bool] = mapped_column(Boolean, default=False)


class IPAllocation(Base):
    """An address held by a port. The primary key makes a double allocation impossible,
    whichever process allocates."""

    __tablename__ = "net_ip_allocations"

    subnet_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_subnets.id", ondelete="CASCADE"), primary_key=True
    )
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_ports.id", ondelete="CASCADE"), index=True
    )
    network_id: Mapped[str] = mapped_column(ID, index=True)


class SecurityGroup(Standard, Base):
    __tablename__ = "net_security_groups"

    stateful: Mapped[bool] = mapped_column(Boolean, default=True)


class DefaultSecurityGroup(Base):
    """Which group is a project's ``default``: at most one per project."""

    __tablename__ = "net_default_security_groups"

    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_groups.id", ondelete="CASCADE")
    )


class SecurityGroupRule(Base):
    __tablename__ = "net_security_group_rules"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_groups.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("net_security_groups.id", ondelete="CASCADE"), index=True
    )
    remote_address_group_id: Mapped[str | None] = mapped_column(ID)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


class PortSecurityGroup(Base):
    __tablename__ = "net_port_security_groups"

    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_ports.id", ondelete="CASCADE"), primary_key=True
    )
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_groups.id"), primary_key=True, index=True
    )


class Router(Standard, Base):
    __tablename__ = "net_routers"

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(ID)
    gw_network_id: Mapped[str | None] = mapped_column(ID, index=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"destination": cidr, "nexthop": ip}]
    routes: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    availability_zone_hints: Mapped[list[str]] = mapped_column(JSONText, default=list)


class FloatingIp(Standard, Base):
    __tablename__ = "net_floating_ips"

    floating_network_id: Mapped[str] = mapped_column(ID, index=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_port_id: Mapped[str] = mapped_column(ID)
    fixed_port_id: Mapped[str | None] = mapped_column(ID, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(ID, index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    dns_domain: Mapped[str] = mapped_column(String(255), default="")


class PortForwarding(Base):
    __tablename__ = "net_port_forwardings"
    __table_args__ = (UniqueConstraint("floatingip_id", "protocol", "external_port"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    floatingip_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_floating_ips.id", ondelete="CASCADE"), index=True
    )
    internal_port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_ports.id", ondelete="CASCADE"), index=True
    )
    internal_ip_address: Mapped[str] = mapped_column(String(64))
    internal_port: Mapped[int] = mapped_column(Integer)
    internal_port_end: Mapped[int | None] = mapped_column(Integer)
    external_port: Mapped[int] = mapped_column(Integer)
    external_port_end: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(255), default="")


class RbacPolicy(Base):
    __tablename__ = "net_rbac_policies"
    __table_args__ = (UniqueConstraint("object_type", "object_id", "action", "target_tenant"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(ID, index=True)
    action: Mapped[str] = mapped_column(String(32))
    target_tenant: Mapped[str] = mapped_column(PROJECT, index=True)


class Quota(Base):
    __tablename__ = "net_quotas"

    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class Tag(Base):
    __tablename__ = "net_tags"

    resource_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)


class Agent(Base):
    """A network agent (one per host): what ``/v2.0/agents`` lists, and where the VXLAN
    tunnel endpoints of the other hosts are found."""

    __tablename__ = "net_agents"
    __table_args__ = (UniqueConstraint("agent_type", "host"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    agent_type: Mapped[str] = mapped_column(String(64))
    binary: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64), default="N/A")
    host: Mapped[str] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    configurations: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataplaneGeneration(Base):
    """A counter bumped by every write the dataplane cares about: agents compare it to
    the one they applied (cheap polling across processes; wake-ups are only hints)."""

    __tablename__ = "net_dataplane_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    generation: Mapped[int] = mapped_column(Integer, default=0)
