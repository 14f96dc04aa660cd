"""guest orders: paid orders ahead from a phone, stock holds, processed payment events, the source of a ticket

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TS = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # A guest's ticket has no staff author: created_by and the history's user_id become optional.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", _STR(length=16), nullable=False, server_default="staff"))
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("order_status_history", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "guest_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", _STR(length=64), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", _STR(length=3), nullable=False),
        sa.Column("customer_name", _STR(length=80), nullable=False),
        sa.Column("phone", _STR(length=32), nullable=True),
        sa.Column("pickup_slot", _TS(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("hold_expires_at", _TS(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", _STR(length=255), nullable=True),
        sa.Column("request_hash", _STR(length=64), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("paid_at", _TS(), nullable=True),
        sa.Column("updated_at", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["shift_id"], ["shifts.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token", name="uq_guest_orders_token"),
        sa.UniqueConstraint("order_id", name="uq_guest_orders_order"),
        sa.UniqueConstraint("shift_id", "idempotency_key", name="uq_guest_orders_idempotency"),
    )
    op.create_index("ix_guest_orders_status_expiry", "guest_orders", ["status", "hold_expires_at"])
    op.create_index("ix_guest_orders_shift_created", "guest_orders", ["shift_id", "created_at"])
    op.create_index("ix_guest_orders_phone", "guest_orders", ["phone"])
    op.create_table(
        "stock_holds",
        sa.Column("guest_order_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("state", _STR(length=16), nullable=False),
        sa.ForeignKeyConstraint(["guest_order_id"], ["guest_orders.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["menu_items.id"]),
        sa.PrimaryKeyConstraint("guest_order_id", "item_id"),
    )
    op.create_table(
        "payment_events",
        sa.Column("event_id", _STR(length=128), nullable=False),
        sa.Column("guest_order_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", _STR(length=3), nullable=False),
        sa.Column("outcome", _STR(length=32), nullable=False),
        sa.Column("received_at", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["guest_order_id"], ["guest_orders.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_table("stock_holds")
    op.drop_index("ix_guest_orders_phone", table_name="guest_orders")
    op.drop_index("ix_guest_orders_shift_created", table_name="guest_orders")
    op.drop_index("ix_guest_orders_status_expiry", table_name="guest_orders")
    op.drop_table("guest_orders")
    with op.batch_alter_table("order_status_history", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("source")
