"""Recently finished tickets of a shift, newest first: what a KDS "recall" lists after a ticket is bumped.

A separate read from ``tickets.open_tickets`` (which the KDS snapshot uses) because bumped
tickets leave the snapshot; a cook who bumped the wrong ticket must still be able to see it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Order
from app.services.tickets import tickets

__all__ = ["recent_tickets"]

# The column that says when a ticket reached each status: "recently" is measured on it.
_REACHED_AT = {
    "new": Order.created_at,
    "in_progress": Order.started_at,
    "ready": Order.ready_at,
    "completed": Order.completed_at,
    "cancelled": Order.cancelled_at,
}


async def recent_tickets(session: AsyncSession, shift_id: int, *, status: str, limit: int) -> list[dict[str, Any]]:
    """Full tickets of ``shift_id`` now in ``status``, the most recently arrived there first.

    Args:
        status: one of the ticket statuses (protocol.md §4.1); the caller validates it.
        limit: at most this many tickets.

    Returns:
        Tickets in the contract's ticket shape, as the KDS snapshot and events carry them.
    """
    reached = col(_REACHED_AT[status])
    orders = await session.exec(
        select(Order)
        .where(Order.shift_id == shift_id, Order.status == status)
        .order_by(reached.desc(), col(Order.number).desc())
        .limit(limit)
    )
    return await tickets(session, list(orders))
