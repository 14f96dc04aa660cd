"""A guest's order ahead (protocol.md §4.3): priced from the menu, throttled, its stock held until paid.

Holding is taking: the held units leave ``shift_stock.remaining`` at once (the same conditional
UPDATE as a staff order, so 20 guests racing for 5 units get exactly 5 holds), and are recorded
in ``stock_holds``. A payment turns the hold into the sale (``taken``); an expired hold gives the
units back (``released``). Nothing reaches the kitchen before the payment.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import GuestOrder, Order, Shift, StockHold, utcnow
from app.models.common import iso
from app.models.guest import GuestOrderCreate, GuestOrderPlaced, GuestOrderView, GuestStatus, OrderStatusEvent
from app.services.events import OutEvent, stage
from app.services.guest_eta import order_eta_s
from app.services.orders import check_menu_lines, check_throttle, slot_bounds
from app.services.shift_menu import sellable_items
from app.services.stock import alert_event, decrement, restore

__all__ = ["TICKET_TO_GUEST", "expire_holds", "load_guest", "order_event", "place", "placed", "request_hash", "view"]

TICKET_TO_GUEST: dict[str, GuestStatus] = {
    "new": "paid",
    "in_progress": "in_progress",
    "ready": "ready",
    "completed": "completed",
    "cancelled": "cancelled",
}
_EVENT = {s: f"order.{s}" for s in ("paid", "in_progress", "ready", "completed", "cancelled", "rejected")}


def request_hash(shift_id: int, body: GuestOrderCreate) -> str:
    canonical = orjson.dumps({"shift_id": shift_id, **body.model_dump(mode="json")}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def placed(guest: GuestOrder) -> dict[str, Any]:
    """The 201 answer; the same for a replay of the same Idempotency-Key."""
    return GuestOrderPlaced(
        order_token=guest.token,
        status="pending_payment",
        amount_cents=guest.amount_cents,
        currency=guest.currency,
        hold_expires_at=iso(guest.hold_expires_at) or "",
    ).model_dump(mode="json")


async def load_guest(session: AsyncSession, token: str) -> GuestOrder:
    guest = (await session.exec(select(GuestOrder).where(GuestOrder.token == token))).first()
    if guest is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such order")  # never say more about someone else's token
    return guest


async def _replay(session: AsyncSession, shift_id: int, key: str, digest: str) -> GuestOrder | None:
    guest = (
        await session.exec(select(GuestOrder).where(GuestOrder.shift_id == shift_id, GuestOrder.idempotency_key == key))
    ).first()
    if guest is not None and guest.request_hash != digest:
        raise ApiError(ErrorCode.CONFLICT, "this Idempotency-Key was already used for a different order")
    return guest


async def _lock_accepting_shift(session: AsyncSession, shift: Shift) -> None:
    """Locks the shift row (serializing the throttle count) and checks it takes orders, in one statement."""
    result = await session.exec(
        update(Shift)
        .where(col(Shift.id) == shift.id, col(Shift.status) == "active")
        .values(last_ticket_number=col(Shift.last_ticket_number))
    )
    if result.rowcount != 1:
        await session.refresh(shift)
        raise ApiError(ErrorCode.SHIFT_NOT_ACCEPTING, f"shift {shift.id} is {shift.status}: not taking orders")


async def _pending_in_slot(session: AsyncSession, shift: Shift, now: datetime) -> int:
    start, _ = slot_bounds(now, shift.slot_minutes)
    query = (
        select(func.count())
        .select_from(GuestOrder)
        .where(
            GuestOrder.shift_id == shift.id, GuestOrder.status == "pending_payment", col(GuestOrder.created_at) >= start
        )
    )
    return int((await session.exec(query)).one())


async def place(
    session: AsyncSession,
    shift: Shift,
    body: GuestOrderCreate,
    *,
    hold_s: float,
    currency: str,
    idempotency: tuple[str, str] | None,
) -> tuple[GuestOrder, list[OutEvent], bool]:
    """Price, throttle and hold; commits. Returns the order, its staged events, and whether it is a replay.

    Raises:
        ApiError: ``shift_not_accepting``, ``throttled``, ``sold_out``, ``bad_request`` (unknown items),
            ``conflict`` (an Idempotency-Key reused for another order).
    """
    assert shift.id is not None
    if idempotency is not None and (earlier := await _replay(session, shift.id, *idempotency)) is not None:
        return earlier, [], True
    now = utcnow()
    wanted: dict[int, int] = {}
    for line in body.items:
        wanted[line.item_id] = wanted.get(line.item_id, 0) + line.qty
    items = {i.id: i for i in await sellable_items(session, shift, set(wanted)) if i.id is not None}
    check_menu_lines(body.items, items, now)
    try:
        await _lock_accepting_shift(session, shift)
        # Lapsed holds give their units back first: the next guest gets them without waiting for the sweep.
        released, _ = await expire_holds(session, shift.id)
        await check_throttle(session, shift, now, pending=await _pending_in_slot(session, shift, now))
        changes = await decrement(session, shift.id, wanted, items)
    except ApiError:
        await session.rollback()
        raise
    lines = [
        {
            "item_id": line.item_id,
            "name": items[line.item_id].name,
            "qty": line.qty,
            "unit_price_cents": items[line.item_id].price_cents,
            "station": items[line.item_id].station,
            "modifiers": list(line.modifiers),
        }
        for line in body.items
    ]
    guest = GuestOrder(
        token=secrets.token_urlsafe(24),  # 192 bits: unguessable, and the guest's only credential
        shift_id=shift.id,
        amount_cents=sum(items[line.item_id].price_cents * line.qty for line in body.items),
        currency=currency,
        customer_name=body.customer_name,
        phone=body.phone,
        pickup_slot=body.pickup_slot,
        items=lines,
        hold_expires_at=now + timedelta(seconds=hold_s),
        idempotency_key=idempotency[0] if idempotency else None,
        request_hash=idempotency[1] if idempotency else "",
        created_at=now,
        updated_at=now,
    )
    session.add(guest)
    await session.flush()
    assert guest.id is not None
    session.add_all(
        StockHold(guest_order_id=guest.id, item_id=c.item_id, shift_id=shift.id, qty=wanted[c.item_id]) for c in changes
    )
    events = released + [e for e in (alert_event(shift.id, c) for c in changes) if e is not None]
    stage(session, shift.id, events)
    await session.commit()
    return guest, events, False


async def expire_holds(session: AsyncSession, shift_id: int) -> tuple[list[OutEvent], int]:
    """Unpaid orders of the shift past their hold become ``expired``, their units back in stock.

    Returns the stock events to stage and how many expired; the caller holds the shift's lock and commits.
    """
    events: list[OutEvent] = []
    lapsed = list(
        await session.exec(
            select(GuestOrder).where(
                GuestOrder.shift_id == shift_id,
                GuestOrder.status == "pending_payment",
                col(GuestOrder.hold_expires_at) <= utcnow(),
            )
        )
    )
    for guest in lapsed:
        holds = list(await session.exec(select(StockHold).where(StockHold.guest_order_id == guest.id)))
        returned = {h.item_id: h.qty for h in holds if h.state == "held"}
        names = {line["item_id"]: line["name"] for line in guest.items}
        changes = await restore(session, shift_id, returned, names)
        events += [e for e in (alert_event(shift_id, c) for c in changes) if e is not None]
        for hold in holds:
            hold.state = "released"
            session.add(hold)
        guest.status, guest.updated_at = "expired", utcnow()
        session.add(guest)
    return events, len(lapsed)


async def view(session: AsyncSession, guest: GuestOrder) -> dict[str, Any]:
    """``GET /api/guest/orders/{token}``: once queued, the ticket's status, number and ETA."""
    status: GuestStatus = guest.status  # type: ignore[assignment]  # the column only holds GuestStatus values
    number = eta = None
    if guest.order_id is not None:
        order = await session.get(Order, guest.order_id, populate_existing=True)
        assert order is not None
        status, number, eta = TICKET_TO_GUEST[order.status], order.number, await order_eta_s(session, order)
    return GuestOrderView(
        order_token=guest.token,
        status=status,
        number=number,
        eta_s=eta,
        items=[{k: v for k, v in line.items() if k != "station"} for line in guest.items],
        amount_cents=guest.amount_cents,
        currency=guest.currency,
        pickup_slot=iso(guest.pickup_slot),
    ).model_dump(mode="json")


async def order_event(session: AsyncSession, order: Order, status: GuestStatus | None = None) -> OutEvent | None:
    """The ``order.*`` event (protocol.md §2.4 ``order:{token}``) of a guest's ticket now in ``order.status``
    (or ``status``), staged by the caller in the ticket change's own transaction; None for staff tickets."""
    if order.source != "guest" or order.id is None:
        return None
    guest = (await session.exec(select(GuestOrder).where(GuestOrder.order_id == order.id))).first()
    if guest is None:
        return None
    state = status or TICKET_TO_GUEST[order.status]
    data: OrderStatusEvent = {
        "order_token": guest.token,
        "status": state,
        "number": order.number,
        "eta_s": await order_eta_s(session, order),
    }
    return OutEvent(f"order:{guest.token}", _EVENT[state], data)
