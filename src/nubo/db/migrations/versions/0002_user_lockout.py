"""Lockout after failed password logins: two columns on identity users.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nubo.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_auth_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("failed_auth_at", nubo.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.drop_column("failed_auth_at")
        batch_op.drop_column("failed_auth_count")
