"""Placement tables: resource providers (in trees), their inventories, traits and
aggregates, the consumers of their resources and the allocations those hold, and
the custom resource classes and traits operators add.

Standard resource classes and traits are constants in code (``standards.py``), as
os-resource-classes and os-traits are upstream; rows here refer to classes and
traits by name, so a name is valid when it is standard or has a custom row.

Every provider has a ``generation`` that changes with each write to its
inventories, traits, aggregates or allocations; writers bump it with a conditional
UPDATE (or hold the row lock), so two processes never both spend the same capacity.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nubo.db.base import Base, UTCDateTime, utcnow

UUID = String(36)
NAME = String(255)


class ResourceProvider(Base):
    __tablename__ = "placement_resource_providers"

    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    # a child cannot outlive its parent: deleting a parent with children is refused
    parent_uuid: Mapped[str | None] = mapped_column(
        UUID, ForeignKey("placement_resource_providers.uuid"), index=True
    )
    root_uuid: Mapped[str] = mapped_column(UUID, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ResourceClass(Base):
    """A custom resource class (``CUSTOM_*``)."""

    __tablename__ = "placement_resource_classes"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Trait(Base):
    """A custom trait (``CUSTOM_*``)."""

    __tablename__ = "placement_traits"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Inventory(Base):
    __tablename__ = "placement_inventories"

    provider_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_resource_providers.uuid", ondelete="CASCADE"), primary_key=True
    )
    resource_class: Mapped[str] = mapped_column(NAME, primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    min_unit: Mapped[int] = mapped_column(Integer, default=1)
    max_unit: Mapped[int] = mapped_column(Integer)
    step_size: Mapped[int] = mapped_column(Integer, default=1)
    allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Consumer(Base):
    """Who holds allocations (an instance, a migration ...). The row lives as long
    as the consumer holds any allocation."""

    __tablename__ = "placement_consumers"

    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, index=True)
    user_id: Mapped[str] = mapped_column(NAME, index=True)
    consumer_type: Mapped[str | None] = mapped_column(NAME)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Allocation(Base):
    __tablename__ = "placement_allocations"
    __table_args__ = (UniqueConstraint("consumer_uuid", "provider_uuid", "resource_class"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_consumers.uuid", ondelete="CASCADE"), index=True
    )
    # a provider with allocations cannot be deleted (no cascade)
    provider_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_resource_providers.uuid"), index=True
    )
    resource_class: Mapped[str] = mapped_column(NAME)
    used: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProviderTrait(Base):
    __tablename__ = "placement_provider_traits"

    provider_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_resource_providers.uuid", ondelete="CASCADE"), primary_key=True
    )
    trait: Mapped[str] = mapped_column(NAME, primary_key=True, index=True)


class ProviderAggregate(Base):
    __tablename__ = "placement_provider_aggregates"

    provider_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_resource_providers.uuid", ondelete="CASCADE"), primary_key=True
    )
    aggregate_uuid: Mapped[str] = mapped_column(UUID, primary_key=True, index=True)
