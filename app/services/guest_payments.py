"""The payment provider's confirmation (protocol.md §4.3 webhook): verified, applied once, atomic with the ticket.

One transaction confirms the payment, turns the stock hold into the sale, creates the ticket
and stages its ``ticket.created`` (``kds:``) and ``order.paid`` (``order:``) in the outbox: a
crash anywhere leaves either an unpaid hold (the provider retries) or a paid, queued ticket
whose events the relay publishes. The processed ``event_id`` is written in the same
transaction, so a replay finds it and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import GuestOrder, MenuItem, Order, OrderLine, OrderStatusChange, PaymentEvent, Shift, StockHold, utcnow
from app.models.guest import OrderStatusEvent, PaymentWebhook, WebhookResult
from app.services import audit
from app.services.events import OutEvent, stage
from app.services.guest_orders import TICKET_TO_GUEST, order_event
from app.services.orders import take_ticket_number
from app.services.stock import alert_event, decrement, restore

__all__ = ["MAX_AGE_S", "apply", "queue_ticket", "reject", "verify_signature"]

MAX_AGE_S = 300


def verify_signature(secret: str, header: str | None, body: bytes, now: float) -> None:
    """``X-Hub-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, at most 300 s old.

    Raises:
        ApiError: 401 ``unauthorized`` for a missing, malformed, wrong or stale signature.
    """
    parts = dict(p.strip().partition("=")[::2] for p in (header or "").split(","))
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        raise ApiError(ErrorCode.UNAUTHORIZED, "X-Hub-Signature must be t=<unix seconds>,v1=<hex hmac-sha256>")
    if abs(now - int(stamp)) > MAX_AGE_S:
        raise ApiError(ErrorCode.UNAUTHORIZED, f"signature timestamp is more than {MAX_AGE_S} s away from now")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise ApiError(ErrorCode.UNAUTHORIZED, "signature does not match the body")


def _result(guest: GuestOrder, event_id: str, outcome: str, status: str | None = None) -> dict[str, Any]:
    return WebhookResult(
        event_id=event_id,
        order_token=guest.token,
        status=status or guest.status,  # type: ignore[arg-type]  # guest.status holds GuestStatus values
        outcome=outcome,
    ).model_dump(mode="json")


async def queue_ticket(session: AsyncSession, shift: Shift, guest: GuestOrder) -> list[OutEvent]:
    """The paid order becomes an ordinary ticket (``source: "guest"``); the caller stages and commits.

    Raises:
        ApiError: ``shift_not_accepting`` when the shift is paused or closed (nothing written).
    """
    number = await take_ticket_number(session, shift)
    now = utcnow()
    note = f"pickup {guest.pickup_slot:%H:%M} UTC" if guest.pickup_slot else None
    order = Order(
        shift_id=guest.shift_id,
        number=number,
        total_cents=guest.amount_cents,
        customer_name=guest.customer_name,
        note=note,
        created_by=None,
        source="guest",
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    lines = [OrderLine(order_id=order.id, line=n, **line) for n, line in enumerate(guest.items, start=1)]
    session.add_all(lines)
    session.add(OrderStatusChange(order_id=order.id, at=now, action="created", to_status="new", user_id=None))
    guest.order_id, guest.updated_at = order.id, now
    session.add(guest)
    await session.flush()
    paid = await order_event(session, order)
    assert paid is not None
    return [OutEvent(f"kds:{guest.shift_id}", "ticket.created", order.public(lines)), paid]


async def _retake(session: AsyncSession, guest: GuestOrder) -> list[OutEvent]:
    """An expired hold gave its units back: take them again, or raise ``sold_out``."""
    wanted: dict[int, int] = {}
    for line in guest.items:
        wanted[line["item_id"]] = wanted.get(line["item_id"], 0) + line["qty"]
    rows = await session.exec(select(MenuItem).where(col(MenuItem.id).in_(wanted)))
    items = {i.id: i for i in rows if i.id is not None}
    changes = await decrement(session, guest.shift_id, wanted, items)
    assert guest.id is not None
    for c in changes:
        hold = await session.get(StockHold, (guest.id, c.item_id))
        hold = hold or StockHold(guest_order_id=guest.id, item_id=c.item_id, shift_id=guest.shift_id, qty=0)
        hold.state, hold.qty = "taken", wanted[c.item_id]
        session.add(hold)
    return [e for e in (alert_event(guest.shift_id, c) for c in changes) if e is not None]


async def _take_holds(session: AsyncSession, guest: GuestOrder) -> None:
    for hold in await session.exec(select(StockHold).where(StockHold.guest_order_id == guest.id)):
        hold.state = "taken"
        session.add(hold)


async def reject(session: AsyncSession, shift: Shift, guest: GuestOrder, reason: str) -> list[OutEvent]:
    """Paid but impossible to make (sold out after the hold expired, or the shift closed): refund needed.

    Stock the order took is given back; the audit row is what the operator refunds from.
    """
    before = guest.status
    events: list[OutEvent] = []
    if before == "paid":
        holds = list(await session.exec(select(StockHold).where(StockHold.guest_order_id == guest.id)))
        returned = {h.item_id: h.qty for h in holds if h.state == "taken"}
        names = {line["item_id"]: line["name"] for line in guest.items}
        changes = await restore(session, guest.shift_id, returned, names)
        events += [e for e in (alert_event(guest.shift_id, c) for c in changes) if e is not None]
        for hold in holds:
            hold.state = "released"
            session.add(hold)
    guest.status, guest.updated_at = "rejected", utcnow()
    session.add(guest)
    audit.record(
        session,
        None,
        "guest_order.reject",
        f"guest_order:{guest.id}",
        old={"status": before},
        new={"status": "rejected", "reason": reason, "refund_cents": guest.amount_cents, "currency": guest.currency},
        truck_id=shift.truck_id,
    )
    data: OrderStatusEvent = {
        "order_token": guest.token,
        "status": "rejected",
        "number": None,
        "eta_s": None,
        "reason": reason,
    }
    return [*events, OutEvent(f"order:{guest.token}", "order.rejected", data)]


async def apply(session: AsyncSession, shift: Shift, guest: GuestOrder, body: PaymentWebhook) -> dict[str, Any]:
    """Apply one provider event under the shift's lock; commits (or writes nothing and raises).

    Raises:
        ApiError: 409 ``conflict`` when the amount or currency is not the order's (nothing written).
    """
    if await session.get(PaymentEvent, body.event_id) is not None:
        return _result(guest, body.event_id, "replayed", await _current(session, guest))
    if (body.amount_cents, body.currency.upper()) != (guest.amount_cents, guest.currency):
        raise ApiError(
            ErrorCode.CONFLICT,
            f"payment of {body.amount_cents} {body.currency} does not match the order's "
            f"{guest.amount_cents} {guest.currency}",
            details={"expected_cents": guest.amount_cents, "expected_currency": guest.currency},
        )
    outcome, events = await _outcome(session, shift, guest, body)
    assert guest.id is not None
    session.add(
        PaymentEvent(
            event_id=body.event_id,
            guest_order_id=guest.id,
            amount_cents=body.amount_cents,
            currency=guest.currency,
            outcome=outcome,
        )
    )
    assert shift.id is not None
    stage(session, shift.id, events)
    await session.commit()
    return _result(guest, body.event_id, outcome, await _current(session, guest))


async def _outcome(
    session: AsyncSession, shift: Shift, guest: GuestOrder, body: PaymentWebhook
) -> tuple[str, list[OutEvent]]:
    if body.status != "succeeded":
        return "ignored", []
    if guest.status not in ("pending_payment", "expired"):
        audit.record(
            session,
            None,
            "guest_order.duplicate_payment",
            f"guest_order:{guest.id}",
            new={"event_id": body.event_id, "refund_cents": body.amount_cents, "status": guest.status},
            truck_id=shift.truck_id,
        )
        return "duplicate", []
    events: list[OutEvent] = []
    if guest.status == "expired":
        try:
            events += await _retake(session, guest)
        except ApiError as exc:
            await session.rollback()  # the partial re-take is undone; the rejection is written instead
            await session.refresh(guest)
            await session.refresh(shift)
            return "rejected", await reject(session, shift, guest, f"sold out after the hold expired: {exc.message}")
    else:
        await _take_holds(session, guest)
    guest.status, guest.paid_at, guest.updated_at = "paid", utcnow(), utcnow()
    session.add(guest)
    if shift.status == "closed":
        return "rejected", await reject(session, shift, guest, "the shift closed before the payment arrived")
    try:
        return "queued", events + await queue_ticket(session, shift, guest)
    except ApiError:  # paused: paid and held; reconcile queues it when the shift resumes
        return "paid_waiting", events


async def _current(session: AsyncSession, guest: GuestOrder) -> str:
    if guest.order_id is None:
        return guest.status
    order = await session.get(Order, guest.order_id)
    return TICKET_TO_GUEST[order.status] if order else guest.status
