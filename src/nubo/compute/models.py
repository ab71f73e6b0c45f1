"""Compute tables: flavors, keypairs, servers (instances) and what hangs off them,
server groups, host aggregates, compute services and nodes, migrations, quotas,
console tokens, and the per-host generation counter the compute agent polls.

A server row holds both what the user asked for (``vm_state``: the state it should
be in, ``task_state``: the operation under way, with ``task_deadline``) and what is
true (``power_state``, ``fault``). Deleted servers keep their row (``deleted_at``)
so ``changes-since`` lists and tenant usage can still see them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nubo.db.base import Base, JSONText, UTCDateTime, utcnow

ID = String(36)
PROJECT = String(64)


def new_uuid() -> str:
    """Nova's ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Flavor(Base):
    __tablename__ = "compute_flavors"

    # the id users see (``flavorid`` in Nova): any string, e.g. "1" or a UUID
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap_mb: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    extra_specs: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FlavorAccess(Base):
    """Projects that may use a private flavor."""

    __tablename__ = "compute_flavor_access"

    flavor_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("compute_flavors.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)


class KeyPair(Base):
    """Keypairs belong to a user, not a project."""

    __tablename__ = "compute_keypairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "name"),)


class Server(Base):
    """An instance: Nova's ``instances`` row."""

    __tablename__ = "compute_servers"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)

    # the flavor as it was at boot (Nova embeds it): id, name, vcpus, memory_mb,
    # root_gb, ephemeral_gb, swap_mb, rxtx_factor, extra_specs
    flavor: Mapped[dict[str, Any]] = mapped_column(JSONText)
    # during a resize: the flavor being left (revert goes back to it)
    old_flavor: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    image_id: Mapped[str] = mapped_column(String(36), default="")
    # image properties read at boot (min_disk, os_type, hw_* ...)
    image_meta: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    # desired state, operation under way and its deadline, observed power state
    vm_state: Mapped[str] = mapped_column(String(32), default="building", index=True)
    task_state: Mapped[str | None] = mapped_column(String(32))
    task_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    # the vm_state to return to when a transient state (rescue, resize) ends
    previous_vm_state: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # {"code", "message", "details", "created"} when the server went to ERROR
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSONText)

    host: Mapped[str | None] = mapped_column(String(255), index=True)
    node: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    # hosts a build already failed on (the scheduler skips them)
    attempted_hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)

    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)  # base64, as given
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_items: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONText, default=list)
    # what create asked for: [{"uuid"|"port"|"fixed_ip"|"tag": ...}] or "auto"/"none"
    requested_networks: Mapped[Any] = mapped_column(JSONText, default=list)
    security_groups: Mapped[list[str]] = mapped_column(JSONText, default=list)
    scheduler_hints: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    server_group_id: Mapped[str | None] = mapped_column(ID)
    access_ip_v4: Mapped[str] = mapped_column(String(64), default="")
    access_ip_v6: Mapped[str] = mapped_column(String(64), default="")
    disk_config: Mapped[str] = mapped_column(String(8), default="MANUAL")  # OS-DCF: AUTO|MANUAL
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16))  # "owner" or "admin"
    locked_reason: Mapped[str | None] = mapped_column(String(255))
    # the encrypted password the guest posted to the metadata service (os-server-password)
    password: Mapped[str | None] = mapped_column(Text)
    # extra state of operations: rescue image, snapshot image id, shelved image ...
    task_args: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    # bumped by every write the host's agent must act on
    generation: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    launched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class InstanceAction(Base):
    """One user-visible operation on a server (os-instance-actions)."""

    __tablename__ = "compute_instance_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(ID, index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(PROJECT)
    message: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finish_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstanceActionEvent(Base):
    __tablename__ = "compute_instance_action_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("compute_instance_actions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(String(16))  # Success / Error
    host: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finish_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ServerGroup(Base):
    __tablename__ = "compute_server_groups"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    # affinity, anti-affinity, soft-affinity or soft-anti-affinity
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServerGroupMember(Base):
    __tablename__ = "compute_server_group_members"

    group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("compute_server_groups.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


class Aggregate(Base):
    """A host aggregate (os-aggregates); one with an availability zone defines it."""

    __tablename__ = "compute_aggregates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    metadata_items: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ComputeService(Base):
    """A running nova-* service (os-services): one compute per host, plus the
    scheduler and conductor every ``nubo up`` runs."""

    __tablename__ = "compute_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_up: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("host", "binary"),)


class ComputeNode(Base):
    """A hypervisor (os-hypervisors); its uuid is its Placement resource provider's."""

    __tablename__ = "compute_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255))
    hypervisor_type: Mapped[str] = mapped_column(String(32))  # QEMU, container, fake
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    driver: Mapped[str] = mapped_column(String(32))  # qemu-kvm, qemu-tcg, container, fake
    host_ip: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    local_gb: Mapped[int] = mapped_column(Integer)
    cpu_info: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Migration(Base):
    """A resize or migration of a server (os-migrations)."""

    __tablename__ = "compute_migrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True, default=new_uuid)
    server_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(PROJECT)
    user_id: Mapped[str] = mapped_column(String(64))
    migration_type: Mapped[str] = mapped_column(String(32))  # resize, migration, live-migration
    status: Mapped[str] = mapped_column(String(32))  # pre-migrating ... finished, reverted
    source_compute: Mapped[str | None] = mapped_column(String(255))
    dest_compute: Mapped[str | None] = mapped_column(String(255))
    source_node: Mapped[str | None] = mapped_column(String(255))
    dest_node: Mapped[str | None] = mapped_column(String(255))
    old_flavor_id: Mapped[str | None] = mapped_column(String(255))
    new_flavor_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Quota(Base):
    """A project's (or, with user_id, a user's) hard limit for one resource."""

    __tablename__ = "compute_quotas"

    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaClass(Base):
    """Defaults (class ``default``) for projects without their own limit."""

    __tablename__ = "compute_quota_classes"

    class_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class ConsoleToken(Base):
    """A remote console's one-time access token (stored hashed)."""

    __tablename__ = "compute_console_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    server_id: Mapped[str] = mapped_column(ID, index=True)
    console_type: Mapped[str] = mapped_column(String(32))  # novnc, serial
    host: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HostGeneration(Base):
    """Per compute host: bumped in every transaction that gives its agent work."""

    __tablename__ = "compute_host_generations"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
