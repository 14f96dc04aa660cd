"""Loyalty by phone (protocol.md §4.3): points for each completed, paid guest order.

Computed from the orders themselves rather than kept in a ledger: a point can never be granted
twice or lost by a crash, and a change of rate applies to the history (an operator decision the
README states). Staff see only phones that ordered from their truck.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import GuestOrder, Order, Shift
from app.models.guest import LoyaltyView
from app.security import AccessClaims

__all__ = ["loyalty"]

_EVERYTHING = frozenset({"admin", "manager"})


async def loyalty(session: AsyncSession, phone: str, actor: AccessClaims, *, points_per_order: int) -> LoyaltyView:
    """The phone's completed paid orders and points.

    Raises:
        ApiError: 403 for staff of a truck the phone never ordered from (and for any other role).
    """
    if actor.role not in _EVERYTHING:
        trucks = await session.exec(
            select(Shift.truck_id)
            .join(GuestOrder, col(GuestOrder.shift_id) == col(Shift.id))
            .where(GuestOrder.phone == phone)
            .distinct()
        )
        if actor.role != "staff" or actor.truck_id not in set(trucks):
            raise ApiError(ErrorCode.FORBIDDEN, "staff see the loyalty of phones that ordered from their truck")
    completed = (
        await session.exec(
            select(func.count())
            .select_from(GuestOrder)
            .join(Order, col(Order.id) == col(GuestOrder.order_id))
            .where(GuestOrder.phone == phone, Order.status == "completed")
        )
    ).one()
    return LoyaltyView(phone=phone, points=int(completed) * points_per_order, orders=int(completed))
