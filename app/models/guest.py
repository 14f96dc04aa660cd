"""Guest ordering (protocol.md §4.3): orders ahead from a phone, their stock holds, processed payment events,
and the request and response shapes of the guest routes.

A guest order lives in ``guest_orders`` until its payment queues it as an ordinary ticket
(``orders`` row with ``source = "guest"``, linked by ``order_id``); from then on the ticket's
status is the order's status, so the kitchen and the guest never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, with_config
from pydantic import Field as Check
from sqlmodel import JSON, Column, Field, SQLModel
from typing_extensions import TypedDict

from app.models.common import utcnow
from app.models.order import MAX_LINES, OrderLineIn

__all__ = [
    "GUEST_CREDENTIAL",
    "GuestOrder",
    "GuestOrderCreate",
    "GuestOrderPlaced",
    "GuestOrderView",
    "GuestStatus",
    "GuestWelcome",
    "LoyaltyView",
    "OrderStatusEvent",
    "PaymentEvent",
    "PaymentWebhook",
    "ReconcileResult",
    "StockHold",
    "WebhookResult",
]

GUEST_CREDENTIAL = "order_token"
"""The hello field of a guest's socket (protocol.md §2.1), accepted by the hub instead of ``token``."""
GuestStatus = Literal[
    "pending_payment", "paid", "in_progress", "ready", "completed", "cancelled", "rejected", "expired"
]


@with_config(ConfigDict(extra="forbid"))
class OrderStatusEvent(TypedDict):
    """protocol.md §2.4 ``order:{order_token}``: the ``data`` of every ``order.*`` event (its AsyncAPI schema)."""

    order_token: str
    status: GuestStatus
    number: int | None
    """The ticket number once queued; None before (and for a rejected payment)."""
    eta_s: int | None
    """Seconds until ready: 0 once ready, None when cancelled or rejected."""
    reason: NotRequired[str]
    """``order.rejected`` only: why the payment could not be queued (it is refunded)."""


@with_config(ConfigDict(extra="forbid"))
class GuestWelcome(TypedDict):
    """The ``guest`` field of a guest socket's ``welcome`` (protocol.md §2.1; ``user`` is null)."""

    order_token: str


Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{6,20}$")]


class GuestOrder(SQLModel, table=True):
    __tablename__ = "guest_orders"
    __table_args__ = (
        sa.UniqueConstraint("shift_id", "idempotency_key", name="uq_guest_orders_idempotency"),
        sa.Index("ix_guest_orders_status_expiry", "status", "hold_expires_at"),
        sa.Index("ix_guest_orders_shift_created", "shift_id", "created_at"),
        sa.Index("ix_guest_orders_phone", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    """The guest's only credential: 192 random bits (``secrets.token_urlsafe(24)``)."""
    shift_id: int = Field(foreign_key="shifts.id")
    status: str = Field(default="pending_payment", max_length=16)
    """``pending_payment`` | ``paid`` (queued or waiting for the shift) | ``rejected`` | ``expired``;
    once queued, what the guest sees follows the ticket."""
    amount_cents: int
    currency: str = Field(max_length=3)
    customer_name: str = Field(max_length=80)
    phone: str | None = Field(default=None, max_length=32)
    pickup_slot: datetime | None = None
    items: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """Lines priced from the menu when ordered: item_id, name, qty, unit_price_cents, station, modifiers."""
    hold_expires_at: datetime
    order_id: int | None = Field(default=None, foreign_key="orders.id", sa_column_kwargs={"unique": True})
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    paid_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class StockHold(SQLModel, table=True):
    """Units taken from a shift's stock for an unpaid order: ``held`` → ``taken`` (paid) or ``released``."""

    __tablename__ = "stock_holds"

    guest_order_id: int = Field(foreign_key="guest_orders.id", primary_key=True)
    item_id: int = Field(foreign_key="menu_items.id", primary_key=True)
    shift_id: int
    qty: int
    state: str = Field(default="held", max_length=16)


class PaymentEvent(SQLModel, table=True):
    """A provider event already applied: the webhook's replay guard (its ``event_id`` is the key)."""

    __tablename__ = "payment_events"

    event_id: str = Field(max_length=128, primary_key=True)
    guest_order_id: int = Field(foreign_key="guest_orders.id")
    amount_cents: int
    currency: str = Field(max_length=3)
    outcome: str = Field(max_length=32)
    received_at: datetime = Field(default_factory=utcnow)


# ---- request and response shapes (the OpenAPI metadata is added at merge) ----


class GuestOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[OrderLineIn] = Check(min_length=1, max_length=MAX_LINES)
    customer_name: str = Check(min_length=1, max_length=80)
    phone: Phone | None = None
    pickup_slot: datetime | None = None


class GuestOrderPlaced(BaseModel):
    order_token: str
    status: GuestStatus
    amount_cents: int
    currency: str
    hold_expires_at: str


class GuestOrderView(BaseModel):
    order_token: str
    status: GuestStatus
    number: int | None = None
    eta_s: int | None = None
    items: list[dict[str, Any]]
    amount_cents: int
    currency: str
    pickup_slot: str | None = None


class PaymentWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # providers add fields; we read these

    event_id: str = Check(min_length=1, max_length=128)
    order_token: str = Check(min_length=1, max_length=64)
    amount_cents: int = Check(ge=0)
    currency: str = Check(min_length=3, max_length=3)
    status: str = Check(min_length=1, max_length=32)


class WebhookResult(BaseModel):
    event_id: str
    order_token: str
    status: GuestStatus
    outcome: str
    """``queued`` | ``paid_waiting`` (shift paused) | ``rejected`` | ``ignored`` | ``duplicate`` | ``replayed``."""


class ReconcileResult(BaseModel):
    queued: int
    expired: int
    rejected: int = 0


class LoyaltyView(BaseModel):
    phone: str
    points: int
    orders: int
