"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import xerobridge.store.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("action_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_action_log_source_id"), ["source_id"], unique=False)

    op.create_table(
        "connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tenant_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("short_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("base_currency", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("auth_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("client_secret", sa.Text(), server_default="", nullable=False),
        sa.Column("token", sa.Text(), server_default="", nullable=False),
        sa.Column("token_expires_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_refresh_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("api_url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("identity_url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("parked_until", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connection_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("xero_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("xero_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("xero_url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_log_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_sync_log_filter", ["source_id", "stream", "status", "at"], unique=False
        )

    op.create_table(
        "worker",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hostname", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_heartbeat_at"), ["heartbeat_at"], unique=False)

    op.create_table(
        "api_usage",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("connection_id", "day"),
    )
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("plugin", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("key_prefix", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_prefix"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_source_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_source_plugin"), ["plugin"], unique=False)

    op.create_table(
        "write_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("xero_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("prepared_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("settled_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("write_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_write_attempt_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "cursor",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
        ),
        sa.PrimaryKeyConstraint("source_id", "stream"),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("op", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hold_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", xerobridge.store.models.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lease_until", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("updated_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_claim", ["connection_id", "state", "run_after"], unique=False)
        batch_op.create_index("ix_job_record", ["source_id", "stream", "record_key"], unique=False)
        batch_op.create_index(
            "ux_job_pending",
            ["source_id", "kind", "stream", "record_key"],
            unique=True,
            sqlite_where=sa.text("state IN ('queued', 'held', 'dead')"),
            postgresql_where=sa.text("state IN ('queued', 'held', 'dead')"),
        )

    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("xero_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("xero_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("natural_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pushed_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("in_flight_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.Column("in_flight_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["write_attempt.id"],
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "stream", "record_key", "role"),
    )
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.create_index("ix_link_xero", ["source_id", "xero_type", "xero_id"], unique=False)

    op.create_table(
        "setting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("updated_at", xerobridge.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "scope", "name"),
    )
    with op.batch_alter_table("setting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_setting_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("setting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_setting_source_id"))

    op.drop_table("setting")
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.drop_index("ix_link_xero")

    op.drop_table("link")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_job_pending",
            sqlite_where=sa.text("state IN ('queued', 'held', 'dead')"),
            postgresql_where=sa.text("state IN ('queued', 'held', 'dead')"),
        )
        batch_op.drop_index("ix_job_record")
        batch_op.drop_index("ix_job_claim")

    op.drop_table("job")
    op.drop_table("cursor")
    with op.batch_alter_table("write_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_attempt_connection_id"))

    op.drop_table("write_attempt")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_plugin"))
        batch_op.drop_index(batch_op.f("ix_source_connection_id"))

    op.drop_table("source")
    op.drop_table("api_usage")
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_heartbeat_at"))

    op.drop_table("worker")
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_log_filter")
        batch_op.drop_index(batch_op.f("ix_sync_log_at"))

    op.drop_table("sync_log")
    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connection_tenant_id"))

    op.drop_table("connection")
    with op.batch_alter_table("action_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_log_source_id"))
        batch_op.drop_index(batch_op.f("ix_action_log_at"))

    op.drop_table("action_log")
