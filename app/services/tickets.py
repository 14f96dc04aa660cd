"""A ticket's life after it is placed: advance, hold, resume, cancel, bulk complete; reads for the KDS.

Each change is a compare-and-set UPDATE on the ticket's current status and held flag,
recorded in the status history in the same transaction, then published with the full
ticket. An invalid transition changes nothing and answers 409 ``invalid_transition``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import Order, OrderLine, OrderStatusChange, Shift, utcnow
from app.models.order import OPEN_STATUSES
from app.security import AccessClaims
from app.services import audit
from app.services.events import OutEvent, stage
from app.services.permissions import require_truck_access
from app.services.stock import alert_event, restore

__all__ = ["NEXT_STATUS", "advance", "advance_ready", "cancel", "hold", "load_order", "open_tickets", "tickets"]

NEXT_STATUS = {"new": "in_progress", "in_progress": "ready", "ready": "completed"}
_STAMP = {"in_progress": "started_at", "ready": "ready_at", "completed": "completed_at"}


async def load_order(session: AsyncSession, order_id: int, actor: AccessClaims) -> tuple[Order, Shift]:
    """The order and its shift, if it exists (404) and the actor may act on its truck (403)."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no order {order_id}")
    shift = await session.get(Shift, order.shift_id)
    assert shift is not None
    require_truck_access(actor, shift.truck_id)
    return order, shift


async def tickets(session: AsyncSession, orders: list[Order]) -> list[dict[str, Any]]:
    """Full tickets (protocol.md §4.1) for ``orders``, with their lines in one query."""
    ids = [o.id for o in orders]
    lines: dict[int, list[OrderLine]] = {}
    if ids:
        rows = await session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.order_id), "line")
        )
        for line in rows:
            lines.setdefault(line.order_id, []).append(line)
    return [o.public(lines.get(o.id or 0, [])) for o in orders]


async def open_tickets(session: AsyncSession, shift_id: int) -> list[dict[str, Any]]:
    orders = await session.exec(
        select(Order)
        .where(Order.shift_id == shift_id, col(Order.status).in_(OPEN_STATUSES))
        .order_by(col(Order.created_at), col(Order.number))
    )
    return await tickets(session, list(orders))


async def _change(
    session: AsyncSession,
    order: Order,
    actor: AccessClaims,
    *,
    action: str,
    event: str,
    allowed: tuple[str, ...],
    held: bool | None,
    values: dict[str, Any],
    refusal: str,
    reason: str | None = None,
) -> OutEvent:
    """Compare-and-set: applies only if the ticket is still in ``allowed`` (and ``held`` state, when given)."""
    now = utcnow()
    before, was_held = order.status, order.held  # read now: a rollback expires the object
    condition = [col(Order.id) == order.id, col(Order.status).in_(allowed)]
    if held is not None:
        condition.append(col(Order.held).is_(held))
    result = await session.exec(update(Order).where(*condition).values(updated_at=now, **values))
    if result.rowcount != 1:
        await session.rollback()
        raise ApiError(ErrorCode.INVALID_TRANSITION, refusal, details={"status": before, "held": was_held})
    await session.refresh(order)
    assert order.id is not None
    session.add(
        OrderStatusChange(
            order_id=order.id,
            at=now,
            action=action,
            from_status=before,
            to_status=order.status,
            held=order.held,
            user_id=actor.user_id,
            reason=reason,
        )
    )
    return OutEvent(f"kds:{order.shift_id}", event, None)


async def _finish(session: AsyncSession, order: Order, event: OutEvent, extra: list[OutEvent]) -> list[OutEvent]:
    await session.flush()
    (ticket,) = await tickets(session, [order])
    events = [OutEvent(event.topic, event.event, ticket), *extra]
    stage(session, order.shift_id, events)
    await session.commit()
    return events


async def advance(session: AsyncSession, order: Order, to: str, actor: AccessClaims) -> list[OutEvent]:
    current = order.status
    if NEXT_STATUS.get(current) != to:
        raise ApiError(
            ErrorCode.INVALID_TRANSITION,
            f"ticket {order.number} is {current}: it cannot go to {to}",
            details={"status": current, "allowed": NEXT_STATUS.get(current)},
        )
    values: dict[str, Any] = {"status": to, _STAMP[to]: utcnow()}
    event = await _change(
        session,
        order,
        actor,
        action="advanced",
        event="ticket.advanced",
        allowed=(current,),
        held=False,
        values=values,
        refusal=f"ticket {order.number} is held or changed meanwhile: cannot go to {to}",
    )
    return await _finish(session, order, event, [])


async def hold(session: AsyncSession, order: Order, actor: AccessClaims, *, on: bool) -> list[OutEvent]:
    verb = "hold" if on else "resume"
    event = await _change(
        session,
        order,
        actor,
        action="held" if on else "resumed",
        event="ticket.held" if on else "ticket.resumed",
        allowed=("new", "in_progress"),
        held=not on,
        values={"held": on},
        refusal=(
            f"cannot {verb} ticket {order.number}: it is {order.status}"
            + (", held" if order.held else "")
            + " (hold and resume apply to new or in-progress tickets)"
        ),
    )
    return await _finish(session, order, event, [])


async def cancel(session: AsyncSession, order: Order, reason: str, actor: AccessClaims) -> list[OutEvent]:
    """Cancel until completed; the ticket's quantities go back to counted stock (``stock.restocked`` if revived)."""
    before = order.status
    event = await _change(
        session,
        order,
        actor,
        action="cancelled",
        event="ticket.cancelled",
        allowed=OPEN_STATUSES,
        held=None,
        values={"status": "cancelled", "held": False, "cancelled_at": utcnow(), "cancel_reason": reason},
        refusal=f"cannot cancel ticket {order.number}: it is {order.status}",
        reason=reason,
    )
    lines = list(await session.exec(select(OrderLine).where(OrderLine.order_id == order.id)))
    returned: dict[int, int] = {}
    for line in lines:
        returned[line.item_id] = returned.get(line.item_id, 0) + line.qty
    changes = await restore(session, order.shift_id, returned, {line.item_id: line.name for line in lines})
    alerts = [e for e in (alert_event(order.shift_id, c) for c in changes) if e is not None]
    shift = await session.get(Shift, order.shift_id)
    audit.record(
        session,
        actor.user_id,
        "ticket.cancel",
        f"order:{order.id}",
        old={"status": before},
        new={"status": "cancelled", "reason": reason, "number": order.number},
        truck_id=shift.truck_id if shift else None,
    )
    return await _finish(session, order, event, alerts)


async def advance_ready(session: AsyncSession, shift: Shift, actor: AccessClaims) -> list[OutEvent]:
    """Complete every ready ticket of the shift in one transaction; one ``ticket.advanced`` each."""
    now = utcnow()
    ready = list(
        await session.exec(
            select(Order).where(Order.shift_id == shift.id, Order.status == "ready").order_by(col(Order.number))
        )
    )
    if not ready:
        return []
    result = await session.exec(
        update(Order)
        .where(col(Order.id).in_([o.id for o in ready]), col(Order.status) == "ready")
        .values(status="completed", completed_at=now, updated_at=now)
        .returning(col(Order.id))
    )
    done = {row[0] for row in result}  # a ticket cancelled meanwhile by another process is left out
    ready = [o for o in ready if o.id in done]
    for order in ready:
        assert order.id is not None
        session.add(
            OrderStatusChange(
                order_id=order.id,
                at=now,
                action="advanced",
                from_status="ready",
                to_status="completed",
                user_id=actor.user_id,
            )
        )
    await session.flush()
    for order in ready:
        await session.refresh(order)
    events = [OutEvent(f"kds:{shift.id}", "ticket.advanced", t) for t in await tickets(session, ready)]
    assert shift.id is not None
    stage(session, shift.id, events)
    await session.commit()
    return events
