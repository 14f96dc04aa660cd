"""A shift's live dashboard (protocol.md §4.2): orders and revenue per 15-minute bucket, open tickets by status,
prep times, and the items that are low or sold out.

One query reads the shift's orders (a handful of columns each; a shift holds at most some thousands) and
everything is counted from it in Python: bucketing by time has no portable SQL form across SQLite and Postgres.
Buckets are wall-clock quarter hours in UTC, aligned to the epoch like the order throttle's slots, and the
list covers the whole shift without holes so a chart can draw it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import MenuItem, Order, Shift, ShiftStock, iso, utcnow
from app.models.order import OPEN_STATUSES
from app.services.orders import slot_bounds
from app.services.stock import state_of
from app.services.summary import prep_times

__all__ = ["BUCKET_MINUTES", "shift_dashboard"]

BUCKET_MINUTES = 15
_STEP = timedelta(minutes=BUCKET_MINUTES)


def _bucket(at: datetime) -> datetime:
    return slot_bounds(at, BUCKET_MINUTES)[0]


def _buckets(shift: Shift, rows: Sequence[tuple[datetime, str, int]], now: datetime) -> list[dict[str, Any]]:
    """Every bucket from the shift's start to its end (or now), zeros included; cancelled tickets are not sales."""
    span = [shift.started_at, shift.ended_at or now, *(created for created, _, _ in rows)]
    first, last = _bucket(min(span)), _bucket(max(span))
    totals: dict[datetime, list[int]] = {}
    for created, status, total in rows:
        slot = totals.setdefault(_bucket(created), [0, 0, 0])
        if status == "cancelled":
            slot[2] += 1
        else:
            slot[0] += 1
            slot[1] += total
    out: list[dict[str, Any]] = []
    start = first
    while start <= last:
        orders, revenue, cancelled = totals.get(start, (0, 0, 0))
        out.append({"start": iso(start), "orders": orders, "revenue_cents": revenue, "cancelled": cancelled})
        start += _STEP
    return out


async def _low_stock(session: AsyncSession, shift_id: int) -> list[dict[str, Any]]:
    """Items of this shift whose stock is ``low`` or ``sold_out`` now (app.services.stock's states), sold out first."""
    rows = await session.exec(
        select(ShiftStock, MenuItem.name)
        .join(MenuItem, col(MenuItem.id) == col(ShiftStock.item_id))
        .where(ShiftStock.shift_id == shift_id, col(MenuItem.deleted).is_(False))
    )
    out: list[dict[str, Any]] = []
    for stock, name in rows:
        state = state_of(stock.remaining, stock.low_threshold, stock.sold_out)
        if state != "ok":
            out.append(
                {
                    "item_id": stock.item_id,
                    "name": name,
                    "state": state,
                    "sold_out": state == "sold_out",
                    "remaining": stock.remaining,
                    "low_threshold": stock.low_threshold,
                }
            )
    out.sort(key=lambda item: (item["state"] != "sold_out", item["name"], item["item_id"]))
    return out


async def shift_dashboard(session: AsyncSession, shift: Shift) -> dict[str, Any]:
    """The dashboard of ``shift`` (its ownership already checked by the caller).

    Returns:
        ``{buckets:[{start, orders, revenue_cents, cancelled}], open_by_status, prep_avg_s, prep_p90_s,
        low_stock:[…]}`` plus ``shift_id``, ``status``, ``bucket_minutes``, ``prepared`` and ``generated_at``.
    """
    assert shift.id is not None
    now = utcnow()
    rows = list(
        await session.exec(
            select(Order.created_at, Order.ready_at, Order.status, Order.total_cents).where(Order.shift_id == shift.id)
        )
    )
    open_by_status = dict.fromkeys(OPEN_STATUSES, 0)
    for _, _, status, _ in rows:
        if status in open_by_status:
            open_by_status[status] += 1
    prep = prep_times((created, ready) for created, ready, _, _ in rows)
    return {
        "shift_id": shift.id,
        "status": shift.status,
        "generated_at": iso(now),
        "bucket_minutes": BUCKET_MINUTES,
        "buckets": _buckets(shift, [(created, status, total) for created, _, status, total in rows], now),
        "open_by_status": open_by_status,
        "prepared": prep.prepared,
        "prep_avg_s": prep.avg_s,
        "prep_p90_s": prep.p90_s,
        "low_stock": await _low_stock(session, shift.id),
    }
