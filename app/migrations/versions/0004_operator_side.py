"""operator side: user profiles, truck hours and active flags, device push tokens, the audit log (menu audit folded in),
kitchen screen thresholds per shift

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "notification_channel",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="none",
            )
        )
        batch_op.add_column(
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False, server_default=_NOW)
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("trucks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False, server_default=_NOW)
        )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False, server_default=_NOW)
        )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_token", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(
            sa.Column("seen_via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="socket")
        )
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warn_after_s", sa.Integer(), nullable=False, server_default="300"))
        batch_op.add_column(sa.Column("late_after_s", sa.Integer(), nullable=False, server_default="480"))
    op.create_table(
        "truck_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("truck_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("opens", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("closes", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.ForeignKeyConstraint(["truck_id"], ["trucks.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_truck_hours_truck_weekday", "truck_hours", ["truck_id", "weekday"])
    audit = op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("truck_id", sa.Integer(), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_id", "id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action", "id"])
    op.create_index("ix_audit_log_target", "audit_log", ["target", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    _fold_menu_audit(audit)
    with op.batch_alter_table("menu_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_menu_audit_entity_id"))
    op.drop_table("menu_audit")


def _fold_menu_audit(audit: sa.Table) -> None:
    """Menu edits recorded before the audit log existed move into it, in their order."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT at, user_id, entity, entity_id, action, old, new FROM menu_audit ORDER BY id")
    ).all()
    if rows:
        op.bulk_insert(
            audit,
            [
                {
                    "at": row.at,
                    "actor_id": row.user_id,
                    "action": f"menu.{row.entity}.{row.action}",
                    "target": f"{row.entity}:{row.entity_id}",
                    "truck_id": None,
                    "restricted": False,
                    "old": row.old,
                    "new": row.new,
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.create_table(
        "menu_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("menu_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_menu_audit_entity_id"), ["entity_id"], unique=False)
    op.drop_table("audit_log")
    op.drop_index("ix_truck_hours_truck_weekday", table_name="truck_hours")
    op.drop_table("truck_hours")
    for table, columns in (
        ("shifts", ("warn_after_s", "late_after_s")),
        ("devices", ("push_token", "seen_via")),
        ("locations", ("active", "created_at")),
        ("trucks", ("active", "created_at")),
        ("users", ("display_name", "phone", "notification_channel", "updated_at", "version")),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_column(column)
