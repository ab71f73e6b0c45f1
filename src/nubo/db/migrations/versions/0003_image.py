"""Image service: images, their tags, members and import tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 01:42:36.984593
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nubo.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_images",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("os_hidden", sa.Boolean(), nullable=False),
        sa.Column("disk_format", sa.String(length=20), nullable=True),
        sa.Column("container_format", sa.String(length=20), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("virtual_size", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=32), nullable=True),
        sa.Column("os_hash_algo", sa.String(length=64), nullable=True),
        sa.Column("os_hash_value", sa.String(length=128), nullable=True),
        sa.Column("min_ram", sa.Integer(), nullable=False),
        sa.Column("min_disk", sa.Integer(), nullable=False),
        sa.Column("properties", nubo.db.base.JSONText(), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("staged_size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_images")),
    )
    with op.batch_alter_table("image_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_images_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_images_owner"), ["owner"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_image_images_visibility"), ["visibility"], unique=False
        )

    op.create_table(
        "image_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("input", nubo.db.base.JSONText(), nullable=False),
        sa.Column("result", nubo.db.base.JSONText(), nullable=True),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("created_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", nubo.db.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_tasks")),
    )
    with op.batch_alter_table("image_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_tasks_image_id"), ["image_id"], unique=False)

    op.create_table(
        "image_members",
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", nubo.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image_images.id"],
            name=op.f("fk_image_members_image_id_image_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "member_id", name=op.f("pk_image_members")),
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_members_member_id"), ["member_id"], unique=False)

    op.create_table(
        "image_tags",
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image_images.id"],
            name=op.f("fk_image_tags_image_id_image_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "value", name=op.f("pk_image_tags")),
    )


def downgrade() -> None:
    op.drop_table("image_tags")
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_members_member_id"))

    op.drop_table("image_members")
    with op.batch_alter_table("image_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_tasks_image_id"))

    op.drop_table("image_tasks")
    with op.batch_alter_table("image_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_images_visibility"))
        batch_op.drop_index(batch_op.f("ix_image_images_owner"))
        batch_op.drop_index(batch_op.f("ix_image_images_name"))

    op.drop_table("image_images")
