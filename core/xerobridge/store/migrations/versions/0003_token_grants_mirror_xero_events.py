"""token grants, mirror, xero events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import xerobridge.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "token_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("auth_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("client_secret", sa.Text(), server_default="", nullable=False),
        sa.Column("token", sa.Text(), server_default="", nullable=False),
        sa.Column("token_expires_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_refresh_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("identity_url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scope", sa.Text(), server_default="", nullable=False),
        sa.Column("refresh_owner", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("refresh_until", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "xero_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_at", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("received_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("processed_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "category", "resource_id", "event_type", "event_at"),
    )
    with op.batch_alter_table("xero_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_xero_event_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "mirror_cursor",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("modified_since", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("refreshed_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("connection_id", "kind"),
    )
    op.create_table(
        "mirror_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("xero_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("updated_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "kind", "xero_id"),
    )
    with op.batch_alter_table("mirror_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mirror_email", ["connection_id", "kind", "email_key"], unique=False
        )
        batch_op.create_index("ix_mirror_name", ["connection_id", "kind", "name_key"], unique=False)
        batch_op.create_index("ix_mirror_number", ["connection_id", "kind", "number"], unique=False)

    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grant_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "xero_connection_id",
                sqlmodel.sql.sqltypes.AutoString(),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("webhook_key", sa.Text(), server_default="", nullable=False))
        batch_op.create_index(batch_op.f("ix_connection_grant_id"), ["grant_id"], unique=False)
        batch_op.create_foreign_key("fk_connection_grant_id", "token_grant", ["grant_id"], ["id"])
        batch_op.drop_column("token_expires_at")
        batch_op.drop_column("client_id")
        batch_op.drop_column("last_refresh_at")
        batch_op.drop_column("identity_url")
        batch_op.drop_column("token")
        batch_op.drop_column("client_secret")
        batch_op.drop_column("auth_kind")


def downgrade() -> None:

    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_kind", sa.VARCHAR(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("client_secret", sa.TEXT(), server_default=sa.text("('')"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("token", sa.TEXT(), server_default=sa.text("('')"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("identity_url", sa.VARCHAR(), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("last_refresh_at", sa.DATETIME(), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.VARCHAR(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("token_expires_at", sa.DATETIME(), nullable=True))
        batch_op.drop_constraint("fk_connection_grant_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_connection_grant_id"))
        batch_op.drop_column("webhook_key")
        batch_op.drop_column("xero_connection_id")
        batch_op.drop_column("grant_id")

    with op.batch_alter_table("mirror_record", schema=None) as batch_op:
        batch_op.drop_index("ix_mirror_number")
        batch_op.drop_index("ix_mirror_name")
        batch_op.drop_index("ix_mirror_email")

    op.drop_table("mirror_record")
    op.drop_table("mirror_cursor")
    with op.batch_alter_table("xero_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xero_event_processed_at"))

    op.drop_table("xero_event")
    op.drop_table("token_grant")
