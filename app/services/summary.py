"""End-of-shift numbers: orders by status, revenue, prep times (created → ready).

``prep_times`` is the one definition of prep time the summary and the operator dashboard share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Order, Shift

__all__ = ["STATUSES", "PrepTimes", "percentile", "prep_times", "shift_summary"]

STATUSES = ("new", "in_progress", "ready", "completed", "cancelled")


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value a kitchen can point at: "9 in 10 tickets were ready within")."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class PrepTimes:
    """Seconds from a ticket's creation to ``ready``, over the tickets that got there (rounded to ms)."""

    prepared: int
    avg_s: float | None
    p90_s: float | None


def prep_times(stamps: Iterable[tuple[datetime, datetime | None]]) -> PrepTimes:
    """Prep statistics from ``(created_at, ready_at)`` pairs; pairs without ``ready_at`` are skipped.

    Args:
        stamps: one pair per ticket, in any order.

    Returns:
        The count of prepared tickets, their mean and nearest-rank p90 (None when none was prepared).
    """
    prep = sorted((ready - created).total_seconds() for created, ready in stamps if ready is not None)
    p90 = percentile(prep, 0.9)
    return PrepTimes(
        prepared=len(prep),
        avg_s=round(sum(prep) / len(prep), 3) if prep else None,
        p90_s=round(p90, 3) if p90 is not None else None,
    )


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
    prep = prep_times(stamps)
    sold = sum(counts.values()) - counts["cancelled"]
    return {
        "shift_id": shift.id,
        "status": shift.status,
        "orders": sum(counts.values()),
        "counts": counts,
        "revenue_cents": revenue,
        "average_ticket_cents": round(revenue / sold) if sold else None,
        "prepared": prep.prepared,
        "avg_prep_seconds": prep.avg_s,
        "p90_prep_seconds": prep.p90_s,
    }
