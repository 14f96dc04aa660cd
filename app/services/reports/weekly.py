"""A truck's week (protocol.md §4.2 ``GET /api/reports/weekly``): per day, orders, revenue, top items, sold-outs.

Days are UTC calendar days, Monday to Sunday of the ISO week: a truck has no time zone of its own in the data
model (docs/protocol-notes.md). An order belongs to the day of its ``created_at`` and to its shift's truck.
Orders, revenue and item quantities are summed per day in SQL (the day is a CASE over seven bound instants,
the same SQL on SQLite and Postgres, and a range on ``created_at`` that the per-shift index serves); only the
sold-out crossings are derived in Python (``reports.sold_out``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import Order, OrderLine, Shift
from app.services.reports.sold_out import sold_out_times

__all__ = ["TOP_ITEMS", "IsoWeek", "parse_week", "weekly_report"]

TOP_ITEMS = 5
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


@dataclass(frozen=True, slots=True)
class IsoWeek:
    """Monday 00:00 UTC of an ISO week, and the eight day boundaries from it."""

    monday: date

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year:04d}-W{week:02d}"

    def bounds(self) -> list[datetime]:
        start = datetime(self.monday.year, self.monday.month, self.monday.day, tzinfo=UTC)
        return [start + timedelta(days=day) for day in range(8)]


def parse_week(raw: str | None) -> IsoWeek:
    """``YYYY-Www`` (ISO 8601 week date, e.g. ``2025-W47``); anything else, or a week the year lacks, is 400."""
    match = _WEEK.fullmatch(raw or "")
    try:
        if match is None:
            raise ValueError
        week = IsoWeek(date.fromisocalendar(int(match[1]), int(match[2]), 1))
        week.bounds()  # the week's end must be a representable instant too (year 9999)
    except (ValueError, OverflowError):
        shown = (raw or "")[:24]
        raise ApiError(ErrorCode.BAD_REQUEST, f"week must be an ISO week such as 2025-W47, not {shown!r}") from None
    return week


def _day_of(column: Any, bounds: list[datetime]) -> Any:
    """SQL: the index (0 = Monday) of the day holding ``column``; the caller keeps it within the week."""
    return case(*[(column < bounds[day + 1], day) for day in range(6)], else_=6)


def _in_week(truck_id: int, bounds: list[datetime]) -> Any:
    return and_(col(Shift.truck_id) == truck_id, col(Order.created_at) >= bounds[0], col(Order.created_at) < bounds[7])


async def _totals(session: AsyncSession, truck_id: int, bounds: list[datetime]) -> dict[int, tuple[int, int, int]]:
    """Per day: (orders not cancelled, their revenue, cancelled orders). Grouped on a subquery's column, since
    Postgres will not match a GROUP BY expression to a select-list one when their bound parameters differ."""
    sold = col(Order.status) != "cancelled"
    inner = (
        select(
            _day_of(col(Order.created_at), bounds).label("day"),
            case((sold, 1), else_=0).label("sold"),
            case((sold, col(Order.total_cents)), else_=0).label("revenue"),
        )
        .select_from(Order)
        .join(Shift, col(Shift.id) == col(Order.shift_id))
        .where(_in_week(truck_id, bounds))
        .subquery()
    )
    rows = await session.exec(
        select(inner.c.day, func.sum(inner.c.sold), func.sum(inner.c.revenue), func.count()).group_by(inner.c.day)
    )
    return {int(day): (int(n), int(revenue), int(total) - int(n)) for day, n, revenue, total in rows}


async def _top_items(session: AsyncSession, truck_id: int, bounds: list[datetime]) -> dict[int, list[dict[str, Any]]]:
    """Per day, the ``TOP_ITEMS`` items sold most (by quantity; ties by name), cancelled orders left out."""
    inner = (
        select(
            _day_of(col(Order.created_at), bounds).label("day"),
            col(OrderLine.item_id).label("item_id"),
            col(OrderLine.name).label("name"),
            col(OrderLine.qty).label("qty"),
        )
        .select_from(OrderLine)
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .join(Shift, col(Shift.id) == col(Order.shift_id))
        .where(_in_week(truck_id, bounds), col(Order.status) != "cancelled")
        .subquery()
    )
    rows = await session.exec(
        select(inner.c.day, inner.c.item_id, func.max(inner.c.name), func.sum(inner.c.qty)).group_by(
            inner.c.day, inner.c.item_id
        )
    )
    per_day: dict[int, list[dict[str, Any]]] = {}
    for day, item_id, name, qty in rows:
        per_day.setdefault(int(day), []).append({"item_id": item_id, "name": name, "qty": int(qty)})
    for items in per_day.values():
        items.sort(key=lambda item: (-item["qty"], item["name"], item["item_id"]))
        del items[TOP_ITEMS:]
    return per_day


async def _sold_out_events(session: AsyncSession, truck_id: int, bounds: list[datetime]) -> dict[int, int]:
    """Per day, crossings into ``sold_out`` on the truck's shifts that overlap the week."""
    shift_ids = await session.exec(
        select(Shift.id).where(
            col(Shift.truck_id) == truck_id,
            col(Shift.started_at) < bounds[7],
            or_(col(Shift.ended_at).is_(None), col(Shift.ended_at) >= bounds[0]),
        )
    )
    counts: dict[int, int] = {}
    for at in await sold_out_times(session, [i for i in shift_ids if i is not None]):
        if bounds[0] <= at < bounds[7]:
            day = (at - bounds[0]).days
            counts[day] = counts.get(day, 0) + 1
    return counts


async def weekly_report(session: AsyncSession, truck_id: int, week: IsoWeek) -> dict[str, Any]:
    """The week of ``truck_id`` (its existence and the caller's access already checked).

    Returns:
        ``{truck_id, week, timezone:"UTC", days:[{date, orders, revenue_cents, cancelled, top_items:[{item_id,
        name, qty}], sold_out_events}]}``: seven days, Monday first, zeros on days without sales.
    """
    bounds = week.bounds()
    totals = await _totals(session, truck_id, bounds)
    top = await _top_items(session, truck_id, bounds)
    sold_out = await _sold_out_events(session, truck_id, bounds)
    days = []
    for day in range(7):
        orders, revenue, cancelled = totals.get(day, (0, 0, 0))
        days.append(
            {
                "date": bounds[day].date().isoformat(),
                "orders": orders,
                "revenue_cents": revenue,
                "cancelled": cancelled,
                "top_items": top.get(day, []),
                "sold_out_events": sold_out.get(day, 0),
            }
        )
    return {"truck_id": truck_id, "week": week.label, "timezone": "UTC", "days": days}
