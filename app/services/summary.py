"""End-of-shift numbers: orders by status, revenue, prep times (created → ready)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Order, Shift

__all__ = ["percentile", "shift_summary"]

STATUSES = ("new", "in_progress", "ready", "completed", "cancelled")


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value a kitchen can point at: "9 in 10 tickets were ready within")."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


async def shift_summary(session: AsyncSession, shift: Shift) -> dict[str, Any]:
    counts = dict.fromkeys(STATUSES, 0)
    revenue = 0
    rows = await session.exec(
        select(Order.status, func.count(), func.coalesce(func.sum(Order.total_cents), 0))
        .where(Order.shift_id == shift.id)
        .group_by(Order.status)
    )
    for status, count, total in rows:
        counts[status] = int(count)
        if status != "cancelled":
            revenue += int(total)
    stamps = await session.exec(
        select(Order.created_at, Order.ready_at).where(Order.shift_id == shift.id, col(Order.ready_at).is_not(None))
    )
    prep = sorted((ready - created).total_seconds() for created, ready in stamps if ready is not None)
    p90 = percentile(prep, 0.9)
    sold = sum(counts.values()) - counts["cancelled"]
    return {
        "shift_id": shift.id,
        "status": shift.status,
        "orders": sum(counts.values()),
        "counts": counts,
        "revenue_cents": revenue,
        "average_ticket_cents": round(revenue / sold) if sold else None,
        "prepared": len(prep),
        "avg_prep_seconds": round(sum(prep) / len(prep), 3) if prep else None,
        "p90_prep_seconds": round(p90, 3) if p90 is not None else None,
    }
