"""How long a guest waits: from the open queue and the shift's recent prep times.

A deliberately simple model the guest can trust to be roughly right: a ticket takes the
average prep time of the last tickets made (ordered → ready), and the kitchen works about
``PARALLEL`` tickets at once, so each ``PARALLEL`` tickets ahead add one prep time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Order, utcnow

__all__ = ["DEFAULT_PREP_S", "PARALLEL", "order_eta_s", "prep_average_s", "wait_estimate_s"]

DEFAULT_PREP_S = 300
"""Before a shift has made anything: five minutes a ticket."""
PARALLEL = 3
RECENT = 20


async def prep_average_s(session: AsyncSession, shift_id: int) -> int:
    """Mean ordered → ready time of the shift's last ``RECENT`` tickets that got ready."""
    rows = (
        await session.exec(
            select(Order.created_at, Order.ready_at)
            .where(Order.shift_id == shift_id, col(Order.ready_at).is_not(None))
            .order_by(col(Order.ready_at).desc())
            .limit(RECENT)
        )
    ).all()
    spans = [(ready - created).total_seconds() for created, ready in rows if ready is not None]
    return int(sum(spans) / len(spans)) if spans else DEFAULT_PREP_S


async def _open_before(session: AsyncSession, shift_id: int, before: datetime | None) -> int:
    query = (
        select(func.count())
        .select_from(Order)
        .where(Order.shift_id == shift_id, col(Order.status).in_(("new", "in_progress")))
    )
    if before is not None:
        query = query.where(col(Order.created_at) < before)
    return int((await session.exec(query)).one())


async def wait_estimate_s(session: AsyncSession, shift_id: int) -> int:
    """What a new order would wait now (the guest menu's ``wait_estimate_s``)."""
    prep = await prep_average_s(session, shift_id)
    return prep * (1 + await _open_before(session, shift_id, None) // PARALLEL)


async def order_eta_s(session: AsyncSession, order: Order) -> int | None:
    """Seconds until ``order`` should be ready: 0 once ready or collected, None when cancelled."""
    if order.status in ("ready", "completed"):
        return 0
    if order.status == "cancelled":
        return None
    prep = await prep_average_s(session, order.shift_id)
    ahead = await _open_before(session, order.shift_id, order.created_at)
    elapsed = (utcnow() - order.created_at).total_seconds()
    return max(0, int(prep * (1 + ahead // PARALLEL) - elapsed))
