"""schedule slots

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import xerobridge.store.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_slot",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("task", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("slot", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("fired_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("fired_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
        ),
        sa.PrimaryKeyConstraint("source_id", "task"),
    )


def downgrade() -> None:
    op.drop_table("schedule_slot")
