"""Response shapes of the REST API (protocol.md §4.1) as pydantic models: what ``/openapi.json`` documents.

Routes still build their answers as plain dicts (``Model.public()``, the services' views); these models
describe those dicts so the OpenAPI document and the schemathesis run check them against what is sent.
They never forbid extra fields: the contract welcomes additions. Times are ISO 8601 UTC strings
(``format: date-time``), typed ``datetime`` here for that reason only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.auth import NotificationChannel, Role
from app.models.order import TicketStatus
from app.models.shift import ShiftStatus

__all__ = [
    "Category",
    "CategoryWithItems",
    "Catalog",
    "ErrorBody",
    "ErrorEnvelope",
    "OpeningHours",
    "Location",
    "MenuItem",
    "ShiftConfig",
    "ShiftMenu",
    "ShiftMenuCategory",
    "ShiftMenuItem",
    "ShiftView",
    "Ticket",
    "TicketLine",
    "TicketList",
    "TokenPair",
    "Truck",
    "UserProfile",
    "UserPublic",
    "View",
]


class View(BaseModel):
    """Base of every response view: documentation of a dict the route builds; extra keys allowed."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(View):
    code: str = Field(description="one of the contract's codes (protocol.md §4), e.g. `not_found`, `sold_out`")
    message: str = Field(description="human readable")
    details: Any = Field(default=None, description="field problems for 422, otherwise usually null")


class ErrorEnvelope(View):
    """Every 4xx and 5xx answer of the REST API."""

    error: ErrorBody


class UserPublic(View):
    id: int
    username: str
    role: Role
    truck_id: int | None


class UserProfile(UserPublic):
    display_name: str | None
    active: bool
    phone: str | None
    notification_channel: NotificationChannel
    created_at: datetime
    updated_at: datetime


class TokenPair(View):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the access token expires")
    user: UserPublic


class OpeningHours(View):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    opens: str = Field(description='"HH:MM"')
    closes: str = Field(description='"HH:MM"; "24:00" is midnight')


class Truck(View):
    id: int
    name: str
    active: bool
    hours: list[OpeningHours]


class Location(View):
    id: int
    name: str
    address: str
    lat: float | None
    lon: float | None
    active: bool
    created_at: datetime


class ShiftConfig(View):
    max_orders_per_slot: int
    slot_minutes: int
    warn_after_s: int
    late_after_s: int


class ShiftView(View):
    id: int
    truck_id: int
    location_id: int
    status: ShiftStatus
    started_at: datetime
    ended_at: datetime | None
    config: ShiftConfig


class Category(View):
    id: int
    name: str
    position: int
    truck_id: int | None = Field(description="null: every truck sells it")


class MenuItem(View):
    id: int
    category_id: int | None = Field(description="null for a shift's special")
    name: str
    price_cents: int
    station: str
    active: bool
    shift_id: int | None = Field(default=None, description="specials only")
    available_from: datetime | None = Field(default=None, description="specials only")
    available_until: datetime | None = Field(default=None, description="specials only")


class CategoryWithItems(Category):
    items: list[MenuItem]


class Catalog(View):
    categories: list[CategoryWithItems]


class ShiftMenuItem(MenuItem):
    stock: int | None = Field(description="null: not counted")
    low_threshold: int | None
    sold_out: bool
    stock_state: Literal["ok", "low", "sold_out"]
    available_now: bool | None = Field(default=None, description="specials only: inside their window and active")


class ShiftMenuCategory(Category):
    items: list[ShiftMenuItem]


class ShiftMenu(View):
    shift_id: int
    categories: list[ShiftMenuCategory]
    specials: list[ShiftMenuItem]
    seq: int = Field(description="position of `stock:{shift_id}`: subscribe with `since` to miss nothing")
    epoch: str


class TicketLine(View):
    item_id: int
    name: str
    qty: int
    modifiers: list[str]
    station: str
    unit_price_cents: int


class Ticket(View):
    id: int
    shift_id: int
    number: int
    status: TicketStatus
    held: bool
    items: list[TicketLine]
    total_cents: int
    customer_name: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ready_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    source: Literal["staff", "guest"] = "staff"
    """``guest``: a guest's paid order ahead (guest.md)."""


class TicketList(View):
    items: list[Ticket]
