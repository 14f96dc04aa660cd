"""One shift's menu: what it sells (menu + its specials), stock, sold-out flags, inventory edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import InventoryAdjustment, MenuCategory, MenuItem, Shift, ShiftStock, utcnow
from app.models.menu import InventoryPatch, SpecialCreate
from app.security import AccessClaims
from app.services import audit
from app.services.events import OutEvent, stage
from app.services.permissions import require_manager
from app.services.stock import StockChange, alert_event, state_of, stock_rows

__all__ = ["add_special", "menu_view", "sellable_items", "set_inventory"]


_SELLABLE = (
    select(MenuItem)
    .outerjoin(MenuCategory, col(MenuItem.category_id) == col(MenuCategory.id))
    .where(
        col(MenuItem.deleted).is_(False),
        or_(
            col(MenuItem.shift_id) == bindparam("shift_id"),
            col(MenuItem.shift_id).is_(None)
            & or_(col(MenuCategory.truck_id).is_(None), col(MenuCategory.truck_id) == bindparam("truck_id")),
        ),
    )
    .order_by(col(MenuItem.id))
)
"""A live item of the shift's truck menu, or one of the shift's specials; built once (every order reads it)."""
_SELLABLE_OF = _SELLABLE.where(col(MenuItem.id).in_(bindparam("ids", expanding=True)))


async def sellable_items(session: AsyncSession, shift: Shift, ids: set[int] | None = None) -> list[MenuItem]:
    params: dict[str, Any] = {"shift_id": shift.id, "truck_id": shift.truck_id}
    if ids is None:
        return list((await session.exec(_SELLABLE, params=params)).all())
    return list((await session.exec(_SELLABLE_OF, params={**params, "ids": sorted(ids)})).all())


def _with_stock(item: MenuItem, row: ShiftStock | None, now: datetime) -> dict[str, Any]:
    remaining = row.remaining if row else None
    threshold = row.low_threshold if row else None
    state = state_of(remaining, threshold, row.sold_out if row else False)
    out = {**item.public(), "stock": remaining, "low_threshold": threshold, "sold_out": state == "sold_out"}
    out["stock_state"] = state
    if item.shift_id is not None:
        out["available_now"] = item.active and item.available_at(now)
    return out


async def menu_view(session: AsyncSession, shift: Shift) -> dict[str, Any]:
    """protocol.md §4.1 shift menu, without ``seq``/``epoch`` (the route reads them under the shift lock)."""
    assert shift.id is not None
    items = await sellable_items(session, shift)
    stock = await stock_rows(session, shift.id, (i.id for i in items if i.id is not None))
    categories = (
        await session.exec(
            select(MenuCategory)
            .where(or_(col(MenuCategory.truck_id).is_(None), col(MenuCategory.truck_id) == shift.truck_id))
            .order_by(col(MenuCategory.position), col(MenuCategory.id))
        )
    ).all()
    now = utcnow()
    by_category: dict[int | None, list[dict[str, Any]]] = {}
    specials: list[dict[str, Any]] = []
    for item in items:
        assert item.id is not None
        view = _with_stock(item, stock.get(item.id), now)
        if item.shift_id is not None:
            specials.append(view)
        else:
            by_category.setdefault(item.category_id, []).append(view)
    return {
        "shift_id": shift.id,
        "categories": [{**c.public(), "items": by_category.get(c.id, [])} for c in categories],
        "specials": specials,
    }


async def add_special(session: AsyncSession, shift: Shift, body: SpecialCreate, actor: AccessClaims) -> dict[str, Any]:
    require_manager(actor)
    if shift.status == "closed":
        raise ApiError(ErrorCode.INVALID_TRANSITION, "a closed shift takes no specials")
    start, end = _aware(body.available_from, "available_from"), _aware(body.available_until, "available_until")
    if start is not None and end is not None and end <= start:
        raise ApiError(ErrorCode.BAD_REQUEST, "available_until must be after available_from", status=422)
    item = MenuItem(
        shift_id=shift.id,
        name=body.name,
        price_cents=body.price_cents,
        station=body.station,
        available_from=start,
        available_until=end,
    )
    session.add(item)
    await session.flush()
    assert item.id is not None and shift.id is not None
    row = None
    if body.stock is not None or body.low_threshold is not None:
        row = ShiftStock(shift_id=shift.id, item_id=item.id, remaining=body.stock, low_threshold=body.low_threshold)
        session.add(row)
    audit.record(
        session,
        actor.user_id,
        "menu.special.create",
        f"special:{item.id}",
        new={**item.audit_view(), "stock": body.stock, "low_threshold": body.low_threshold},
        truck_id=shift.truck_id,
    )
    await session.commit()
    return _with_stock(item, row, utcnow())


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{field} needs a timezone (e.g. a trailing Z)", status=422)
    return value


async def set_inventory(
    session: AsyncSession, shift: Shift, patch: InventoryPatch, actor: AccessClaims
) -> tuple[list[dict[str, Any]], list[OutEvent]]:
    """Apply every line or none: unknown items refuse the whole patch (422), nothing written."""
    assert shift.id is not None
    if shift.status == "closed":
        raise ApiError(ErrorCode.INVALID_TRANSITION, "a closed shift's inventory is final")
    ids = [line.item_id for line in patch.items]
    if len(set(ids)) != len(ids):
        raise ApiError(ErrorCode.BAD_REQUEST, "each item may appear once per inventory update", status=422)
    items = {i.id: i for i in await sellable_items(session, shift, set(ids))}
    unknown = sorted(set(ids) - set(items))
    if unknown:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"not on this shift's menu: items {unknown}",
            status=422,
            details={"unknown_item_ids": unknown},
        )
    rows = await stock_rows(session, shift.id, ids)
    now = utcnow()
    views: list[dict[str, Any]] = []
    events: list[OutEvent] = []
    changed: list[dict[str, Any]] = []
    for line in patch.items:
        item = items[line.item_id]
        row = rows.get(line.item_id) or ShiftStock(shift_id=shift.id, item_id=line.item_id)
        before_values = (row.remaining, row.low_threshold, row.sold_out)
        before = state_of(*before_values)
        row.remaining = line.stock
        if "low_threshold" in line.model_fields_set:
            row.low_threshold = line.low_threshold
        if line.sold_out is not None:
            row.sold_out = line.sold_out
        elif line.stock is not None and line.stock > 0:
            row.sold_out = False  # counting stock back in lifts a manual 86
        row.updated_at = now
        session.add(row)
        session.add(
            InventoryAdjustment(
                shift_id=shift.id,
                item_id=line.item_id,
                user_id=actor.user_id,
                at=now,
                old_remaining=before_values[0],
                new_remaining=row.remaining,
                old_sold_out=before_values[2],
                new_sold_out=row.sold_out,
                low_threshold=row.low_threshold,
            )
        )
        change = StockChange(line.item_id, item.name, before, row.remaining, row.low_threshold, row.sold_out)
        event = alert_event(shift.id, change)
        if event is not None:
            events.append(event)
        views.append(_with_stock(item, row, now))
        changed.append(
            {
                "item_id": line.item_id,
                "old": _stock_view(*before_values),
                "new": _stock_view(row.remaining, row.low_threshold, row.sold_out),
            }
        )
    audit.record(
        session, actor.user_id, "inventory.update", f"shift:{shift.id}", old=None, new=changed, truck_id=shift.truck_id
    )
    stage(session, shift.id, events)
    await session.commit()
    return views, events


def _stock_view(remaining: int | None, low_threshold: int | None, sold_out: bool) -> dict[str, Any]:
    return {"stock": remaining, "low_threshold": low_threshold, "sold_out": sold_out}
