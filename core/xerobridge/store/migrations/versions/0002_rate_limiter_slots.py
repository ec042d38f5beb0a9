"""rate limiter slots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import xerobridge.store.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("started_at", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("expires_at", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_call", schema=None) as batch_op:
        batch_op.create_index("ix_api_call_window", ["connection_id", "started_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("api_call", schema=None) as batch_op:
        batch_op.drop_index("ix_api_call_window")

    op.drop_table("api_call")
