"""each logged-in dashboard session, so that a person can list and end it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xerobridge.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("created_at", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("seen_at", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("ended_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dashboard_session_username", "dashboard_session", ["username"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_session_username", table_name="dashboard_session")
    op.drop_table("dashboard_session")
