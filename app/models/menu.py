"""The menu (categories, items, shift specials) and per-shift stock (protocol.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, with_config
from pydantic import Field as Check
from sqlmodel import Field, SQLModel
from typing_extensions import TypedDict

from app.models.common import Id, UtcTime, iso, utcnow

__all__ = [
    "CategoryCreate",
    "InventoryAdjustment",
    "InventoryLine",
    "InventoryPatch",
    "ItemCreate",
    "ItemUpdate",
    "MenuCategory",
    "MenuItem",
    "ShiftStock",
    "SpecialCreate",
    "StockAlert",
    "StockState",
]

StockState = Literal["ok", "low", "sold_out"]


@with_config(ConfigDict(extra="forbid"))
class StockAlert(TypedDict):
    """The ``data`` of ``stock.low``, ``stock.sold_out`` and ``stock.restocked`` (protocol.md §2.4; AsyncAPI schema)."""

    shift_id: int
    item_id: int
    name: str
    remaining: int | None
    threshold: int | None
    sold_out: bool
    state: StockState


Name = Check(min_length=1, max_length=100)
Station = Check(default="kitchen", min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
Price = Check(ge=0, le=10_000_000)


class MenuCategory(SQLModel, table=True):
    __tablename__ = "menu_categories"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    position: int = 0
    # Extension: a category may belong to one truck's menu; null means every truck sells it.
    truck_id: int | None = Field(default=None, foreign_key="trucks.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "position": self.position, "truck_id": self.truck_id}


class MenuItem(SQLModel, table=True):
    """A menu item, or with ``shift_id`` set, a special sold on that shift only (inside its window)."""

    __tablename__ = "menu_items"

    id: int | None = Field(default=None, primary_key=True)
    category_id: int | None = Field(default=None, foreign_key="menu_categories.id", index=True)
    shift_id: int | None = Field(default=None, foreign_key="shifts.id", index=True)
    name: str = Field(max_length=100)
    price_cents: int
    station: str = Field(default="kitchen", max_length=32)
    active: bool = True
    deleted: bool = False  # DELETE keeps the row: past tickets still name the item
    available_from: datetime | None = None
    available_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "category_id": self.category_id,
            "name": self.name,
            "price_cents": self.price_cents,
            "station": self.station,
            "active": self.active,
        }
        if self.shift_id is not None:
            out.update(
                shift_id=self.shift_id,
                available_from=iso(self.available_from),
                available_until=iso(self.available_until),
            )
        return out

    def audit_view(self) -> dict[str, Any]:
        return {**self.public(), "deleted": self.deleted}

    def available_at(self, now: datetime) -> bool:
        if self.available_from is not None and now < self.available_from:
            return False
        return self.available_until is None or now < self.available_until


class ShiftStock(SQLModel, table=True):
    """An item's stock on one shift. ``remaining`` null means not counted (never runs out by itself)."""

    __tablename__ = "shift_stock"

    shift_id: int = Field(foreign_key="shifts.id", primary_key=True)
    item_id: int = Field(foreign_key="menu_items.id", primary_key=True)
    remaining: int | None = None
    low_threshold: int | None = None
    sold_out: bool = False  # flagged by hand ("86'd"), whatever the count
    updated_at: datetime = Field(default_factory=utcnow)


class InventoryAdjustment(SQLModel, table=True):
    """One stock change made by hand (PATCH inventory): the trail a manager audits after the shift."""

    __tablename__ = "inventory_adjustments"

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="shifts.id", index=True)
    item_id: int = Field(foreign_key="menu_items.id")
    user_id: int = Field(foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow)
    old_remaining: int | None = None
    new_remaining: int | None = None
    old_sold_out: bool = False
    new_sold_out: bool = False
    low_threshold: int | None = None


# ---- request bodies ----


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CategoryCreate(_Strict):
    name: str = Name
    position: int = Check(default=0, ge=0, le=100_000)
    truck_id: Id | None = None


class ItemCreate(_Strict):
    category_id: Id
    name: str = Name
    price_cents: int = Price
    station: str = Station
    active: bool = True


class ItemUpdate(_Strict):
    category_id: Id | None = None
    name: str | None = Check(default=None, min_length=1, max_length=100)
    price_cents: int | None = Check(default=None, ge=0, le=10_000_000)
    station: str | None = Check(default=None, min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    active: bool | None = None


class SpecialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # lax: datetimes arrive as ISO strings

    name: str = Name
    price_cents: int = Check(ge=0, le=10_000_000, strict=True)
    station: str = Station
    stock: int | None = Check(default=None, ge=0, le=1_000_000, strict=True)
    low_threshold: int | None = Check(default=None, ge=0, le=1_000_000, strict=True)
    available_from: UtcTime | None = None
    available_until: UtcTime | None = None


class InventoryLine(_Strict):
    item_id: Id
    stock: int | None = Check(ge=0, le=1_000_000)  # null: stop counting this item
    low_threshold: int | None = Check(default=None, ge=0, le=1_000_000)
    sold_out: bool | None = None


class InventoryPatch(_Strict):
    items: list[InventoryLine] = Check(min_length=1, max_length=500)
