"""Orders (KDS tickets), their lines, their status history, and idempotency records (protocol.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, with_config
from pydantic import Field as Check
from sqlmodel import JSON, Column, Field, SQLModel
from typing_extensions import TypedDict

from app.models.common import Id, iso, utcnow

__all__ = [
    "OPEN_STATUSES",
    "AdvanceBody",
    "CancelBody",
    "IdempotencyRecord",
    "Order",
    "OrderCreate",
    "OrderLine",
    "OrderLineIn",
    "OrderStatusChange",
    "TicketLinePublic",
    "TicketPublic",
    "TicketStatus",
]

TicketStatus = Literal["new", "in_progress", "ready", "completed", "cancelled"]
TicketSource = Literal["staff", "guest"]
OPEN_STATUSES = ("new", "in_progress", "ready")

MAX_LINES = 100
MAX_QTY = 99
Modifier = Annotated[str, StringConstraints(min_length=1, max_length=64)]


@with_config(ConfigDict(extra="forbid"))
class TicketLinePublic(TypedDict):
    item_id: int
    name: str
    qty: int
    modifiers: list[str]
    station: str
    unit_price_cents: int


@with_config(ConfigDict(extra="forbid"))
class TicketPublic(TypedDict):
    """protocol.md §4.1 ticket: the REST body and the ``data`` of every ``ticket.*`` event (its AsyncAPI schema)."""

    id: int
    shift_id: int
    number: int
    status: TicketStatus
    held: bool
    items: list[TicketLinePublic]
    total_cents: int
    customer_name: str | None
    note: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    ready_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    cancel_reason: str | None
    source: TicketSource
    """``staff`` (placed at the truck) or ``guest`` (a guest's paid order ahead, guest.md)."""


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("shift_id", "number", name="uq_orders_shift_number"),
        sa.Index("ix_orders_shift_status", "shift_id", "status"),
        sa.Index("ix_orders_shift_created", "shift_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="shifts.id")
    number: int
    status: str = Field(default="new", max_length=16)
    held: bool = False
    total_cents: int = 0
    customer_name: str | None = Field(default=None, max_length=80)
    note: str | None = Field(default=None, max_length=500)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    """The staff member who placed it; None for a guest's paid order (``source`` says "guest")."""
    source: str = Field(default="staff", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ready_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = Field(default=None, max_length=200)

    def public(self, lines: list[OrderLine]) -> dict[str, Any]:
        """protocol.md §4.1 ticket, plus the timestamps a KDS shows.

        Built as a :class:`TicketPublic` (mypy checks it against the schema's source), handed on as a
        plain dict: services store it and replay it (idempotency records) as JSON.
        """
        assert self.id is not None, "a ticket is published once it has an id"
        ticket: TicketPublic = {
            "id": self.id,
            "shift_id": self.shift_id,
            "number": self.number,
            "status": cast(TicketStatus, self.status),
            "held": self.held,
            "items": [line.public() for line in lines],
            "total_cents": self.total_cents,
            "customer_name": self.customer_name,
            "note": self.note,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "ready_at": iso(self.ready_at),
            "completed_at": iso(self.completed_at),
            "cancelled_at": iso(self.cancelled_at),
            "cancel_reason": self.cancel_reason,
            "source": cast(TicketSource, self.source),
        }
        return cast(dict[str, Any], ticket)


class OrderLine(SQLModel, table=True):
    """A line of a ticket: name, price and station copied from the menu when ordered (menus change later)."""

    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    line: int
    item_id: int = Field(foreign_key="menu_items.id")
    name: str = Field(max_length=100)
    qty: int
    unit_price_cents: int
    station: str = Field(max_length=32)
    modifiers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    def public(self) -> TicketLinePublic:
        return {
            "item_id": self.item_id,
            "name": self.name,
            "qty": self.qty,
            "modifiers": self.modifiers,
            "station": self.station,
            "unit_price_cents": self.unit_price_cents,
        }


class OrderStatusChange(SQLModel, table=True):
    """Every change of a ticket, with its time: the record prep times and disputes are read from."""

    __tablename__ = "order_status_history"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=16)  # created | advanced | held | resumed | cancelled
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    held: bool = False
    user_id: int | None = Field(default=None, foreign_key="users.id")
    """Who changed it; None for the system (a guest's payment queueing the ticket)."""
    reason: str | None = Field(default=None, max_length=200)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to an ``Idempotency-Key`` (per user), replayed for the same key."""

    __tablename__ = "idempotency_keys"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    request_hash: str = Field(max_length=64)
    order_id: int = Field(foreign_key="orders.id")
    status: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# ---- request bodies ----


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    item_id: Id
    qty: int = Check(ge=1, le=MAX_QTY)
    modifiers: list[Modifier] = Check(default_factory=list, max_length=10)


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[OrderLineIn] = Check(min_length=1, max_length=MAX_LINES)
    customer_name: str | None = Check(default=None, max_length=80)
    note: str | None = Check(default=None, max_length=500)


class AdvanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    to: TicketStatus


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Check(min_length=1, max_length=200)
