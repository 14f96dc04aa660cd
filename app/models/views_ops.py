"""Response shapes of the kitchen, fleet and operator routes (protocol.md §4, §4.2), and of the pages of lists.

Like :mod:`app.models.views`, documentation of the dicts routes build; checked against real answers by
the schemathesis run (tests/e2e/test_openapi_fuzz.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from app.models.order import TicketStatus
from app.models.shift import ShiftStatus
from app.models.views import Location, ShiftMenuItem, Ticket, Truck, UserProfile, View

__all__ = [
    "AuditPage",
    "AuditRow",
    "Bucket",
    "Dashboard",
    "Day",
    "DevicePage",
    "DeviceView",
    "Health",
    "InventoryResult",
    "KdsSnapshot",
    "LocationPage",
    "LoggedOut",
    "LowStock",
    "NearbyPage",
    "NearbyPosition",
    "PositionPage",
    "PositionView",
    "Readiness",
    "ShiftSummary",
    "TopItem",
    "Trail",
    "TruckPage",
    "UserPage",
    "Weekly",
    "page_of",
]


def page_of(model: type[BaseModel]) -> type[BaseModel]:
    """``{"items": [model], "next_cursor": str | null}`` (protocol.md §4.2 lists), named ``{Model}Page``."""
    return create_model(
        f"{model.__name__}Page",
        __base__=View,
        items=(list[model], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, Field(description="hand it back as `cursor` for the next page; null: the last")),
    )


class Health(View):
    status: Literal["ok"]


class Readiness(View):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description='per dependency: "ok" or "failed: …"')
    failed: list[str]


class LoggedOut(View):
    status: Literal["logged_out"]
    closed_connections: int


class AuditRow(View):
    id: int
    at: datetime
    actor_id: int | None = Field(description="null: a change made from the command line")
    action: str
    target: str
    truck_id: int | None
    old: Any
    new: Any


class DeviceView(View):
    device_id: str
    kind: str
    app: str | None
    last_seen: datetime
    online: bool
    seen_via: Literal["socket", "heartbeat"]
    push_token_set: bool


class PositionView(View):
    driver_id: int = Field(description="the driver's user id")
    lat: float
    lon: float
    ts: float = Field(description="epoch seconds, as in socket frames")
    accuracy: float | None
    speed: float | None
    heading: float | None


class NearbyPosition(PositionView):
    distance_m: float


class KdsSnapshot(View):
    shift_id: int
    tickets: list[Ticket]
    seq: int = Field(description="position of `kds:{shift_id}`: subscribe with `since` to miss nothing")
    epoch: str


class InventoryResult(View):
    items: list[ShiftMenuItem]


class ShiftSummary(View):
    shift_id: int
    status: ShiftStatus
    orders: int
    counts: dict[TicketStatus, int]
    revenue_cents: int
    average_ticket_cents: int | None
    prepared: int
    avg_prep_seconds: float | None
    p90_prep_seconds: float | None


class Bucket(View):
    start: datetime
    orders: int
    revenue_cents: int
    cancelled: int


class LowStock(View):
    item_id: int
    name: str
    state: Literal["low", "sold_out"]
    sold_out: bool
    remaining: int | None
    low_threshold: int | None


class Dashboard(View):
    shift_id: int
    status: ShiftStatus
    generated_at: datetime
    bucket_minutes: int
    buckets: list[Bucket]
    open_by_status: dict[Literal["new", "in_progress", "ready"], int]
    prepared: int
    prep_avg_s: float | None
    prep_p90_s: float | None
    low_stock: list[LowStock]


class TopItem(View):
    item_id: int
    name: str
    qty: int


class Day(View):
    date: date
    orders: int
    revenue_cents: int
    cancelled: int
    top_items: list[TopItem]
    sold_out_events: int


class Weekly(View):
    truck_id: int
    week: str = Field(description="ISO week, YYYY-Www")
    timezone: Literal["UTC"]
    days: list[Day] = Field(min_length=7, max_length=7, description="Monday first")


UserPage = page_of(UserProfile)
TruckPage = page_of(Truck)
LocationPage = page_of(Location)
AuditPage = page_of(AuditRow)
DevicePage = page_of(DeviceView)
PositionPage = page_of(PositionView)
NearbyPage = page_of(NearbyPosition)


class Trail(View):
    driver_id: int
    items: list[PositionView] = Field(description="oldest first")
    next_cursor: str | None
