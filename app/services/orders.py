"""Placing an order: one transaction that numbers the ticket, checks the throttle, takes stock, and records it.

Everything that must be atomic is a conditional UPDATE checked by its row count, so it
holds with concurrent transactions on Postgres as well as on SQLite:
- the shift accepts orders and the next ticket number is taken in one statement
  (``last_ticket_number + 1 WHERE status = 'active'``), which also locks the shift row;
- each counted item is decremented only if enough remains (``stock.decrement``).
Prices, names and stations come from the menu, never from the client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import IdempotencyRecord, MenuItem, Order, OrderLine, OrderStatusChange, Shift, utcnow
from app.models.order import OrderCreate, OrderLineIn
from app.models.tables import row_of, table_of
from app.security import AccessClaims
from app.services.events import OutEvent, stage_now
from app.services.shift_menu import sellable_items
from app.services.stock import alert_event, decrement

__all__ = [
    "Placed",
    "menu_lines",
    "check_menu_lines",
    "check_throttle",
    "find_replay",
    "place_order",
    "request_hash",
    "slot_bounds",
    "take_ticket_number",
]


@dataclass(frozen=True, slots=True)
class Placed:
    status: int
    body: dict[str, Any]
    events: list[OutEvent]
    replayed: bool = False


_ORDERS = table_of(Order)
_SHIFTS = table_of(Shift)
# Built once: an order runs these under its shift's lock, and building a statement costs more than running it.
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_INSERT_LINES = insert(table_of(OrderLine))
_INSERT_HISTORY = insert(table_of(OrderStatusChange))
_INSERT_IDEMPOTENCY = insert(table_of(IdempotencyRecord))
# An ORM UPDATE would also synchronize the session's Shift objects: Core, on the table.
_NEXT_NUMBER = (
    update(_SHIFTS)
    .where(_SHIFTS.c.id == bindparam("shift_id"), _SHIFTS.c.status == "active")
    .values(last_ticket_number=_SHIFTS.c.last_ticket_number + 1)
    .returning(_SHIFTS.c.last_ticket_number)
)
_SHIFT_STATUS = select(_SHIFTS.c.status).where(_SHIFTS.c.id == bindparam("shift_id"))
_LIVE_IN_SLOT = (
    select(func.count())
    .select_from(Order)
    .where(
        col(Order.shift_id) == bindparam("shift_id"),
        col(Order.created_at) >= bindparam("start"),
        col(Order.status) != "cancelled",
    )
)


def request_hash(shift_id: int, body: OrderCreate) -> str:
    canonical = orjson.dumps({"shift_id": shift_id, **body.model_dump()}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def find_replay(session: AsyncSession, actor: AccessClaims, key: str, digest: str) -> Placed | None:
    """The first answer for this (user, key), or None. A different request under the same key is 409."""
    record = await session.get(IdempotencyRecord, (actor.user_id, key))
    if record is None:
        return None
    if record.request_hash != digest:
        raise ApiError(ErrorCode.CONFLICT, "this Idempotency-Key was already used for a different order")
    return Placed(record.status, record.response, [], replayed=True)


def slot_bounds(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The wall-clock slot of ``minutes`` holding ``now``, aligned to the epoch (so :00, :15, :30, :45 for 15)."""
    width = minutes * 60
    start = datetime.fromtimestamp(int(now.timestamp()) // width * width, UTC)
    return start, start + timedelta(seconds=width)


async def take_ticket_number(session: AsyncSession, shift: Shift) -> int:
    conn = await session.connection()
    number = (await conn.execute(_NEXT_NUMBER, {"shift_id": shift.id})).first()
    if number is None:
        status = (await conn.execute(_SHIFT_STATUS, {"shift_id": shift.id})).scalar()
        raise ApiError(ErrorCode.SHIFT_NOT_ACCEPTING, f"shift {shift.id} is {status}: not taking orders", details=None)
    return int(number[0])


async def check_throttle(session: AsyncSession, shift: Shift, now: datetime, *, pending: int = 0) -> None:
    """At most ``max_orders_per_slot`` live (not cancelled) orders per ``slot_minutes`` window.

    ``pending`` counts orders of the slot not yet tickets (guests' unpaid orders holding stock).

    Race-free because the caller already holds the shift row (ticket number update).
    """
    start, end = slot_bounds(now, shift.slot_minutes)
    count = (await session.exec(_LIVE_IN_SLOT, params={"shift_id": shift.id, "start": start})).one()
    if count + pending >= shift.max_orders_per_slot:
        retry = max(1, int((end - now).total_seconds()) + 1)
        raise ApiError(
            ErrorCode.THROTTLED,
            f"this {shift.slot_minutes}-minute slot is full ({shift.max_orders_per_slot} orders)",
            details={"slot_start": start.isoformat(), "slot_end": end.isoformat(), "retry_after_s": retry},
            headers={"Retry-After": str(retry)},
        )


def check_menu_lines(lines: list[OrderLineIn], items: dict[int, MenuItem], now: datetime) -> None:
    unknown = sorted({line.item_id for line in lines} - set(items))
    if unknown:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"not on this shift's menu: items {unknown}",
            status=422,
            details={"unknown_item_ids": unknown},
        )
    off = sorted(i.id for i in items.values() if i.id is not None and not (i.active and i.available_at(now)))
    if off:
        raise ApiError(
            ErrorCode.SOLD_OUT,
            f"not available right now: items {off}",
            details={"item_ids": off, "reason": "inactive or outside its time window"},
        )


async def menu_lines(session: AsyncSession, shift: Shift, body: OrderCreate) -> dict[int, MenuItem]:
    """The menu items an order names, checked sellable now (422/409 otherwise).

    Read before the shift's lock is taken: only the writes need it, and every read taken out of the
    lock shortens the queue of orders behind it. Stock is what must not race, and it is taken by a
    conditional UPDATE under the lock.
    """
    ids = {line.item_id for line in body.items}
    items = {i.id: i for i in await sellable_items(session, shift, ids) if i.id is not None}
    check_menu_lines(body.items, items, utcnow())
    return items


async def place_order(
    session: AsyncSession,
    shift: Shift,
    body: OrderCreate,
    actor: AccessClaims,
    items: dict[int, MenuItem],
    *,
    idempotency: tuple[str, str] | None = None,
) -> Placed:
    """Number, throttle, take stock and record the order ``menu_lines`` priced; in a session holding the
    shift's lock (``ShiftLocks.write``). ``shift`` may come from an earlier session."""
    assert shift.id is not None
    now = utcnow()
    wanted: dict[int, int] = {}
    for line in body.items:
        wanted[line.item_id] = wanted.get(line.item_id, 0) + line.qty
    try:
        number = await take_ticket_number(session, shift)
        await check_throttle(session, shift, now)
        changes = await decrement(session, shift.id, wanted, items)
    except ApiError:
        await session.rollback()
        raise
    order = Order(
        shift_id=shift.id,
        number=number,
        total_cents=sum(items[line.item_id].price_cents * line.qty for line in body.items),
        customer_name=body.customer_name,
        note=body.note,
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    try:
        # Core statements, not the unit of work: an order is a handful of INSERTs, and the ORM's flush
        # bookkeeping was the largest part of an order's CPU, spent inside the shift's lock.
        conn = await session.connection()
        order.id = (await conn.execute(_INSERT_ORDER, row_of(order))).scalar_one()
        lines = [
            OrderLine(
                order_id=order.id,
                line=index,
                item_id=line.item_id,
                name=items[line.item_id].name,
                qty=line.qty,
                unit_price_cents=items[line.item_id].price_cents,
                station=items[line.item_id].station,
                modifiers=list(line.modifiers),
            )
            for index, line in enumerate(body.items, start=1)
        ]
        await conn.execute(_INSERT_LINES, [row_of(line) for line in lines])
        change = OrderStatusChange(order_id=order.id, at=now, action="created", to_status="new", user_id=actor.user_id)
        await conn.execute(_INSERT_HISTORY, row_of(change))
        ticket = order.public(lines)
        if idempotency is not None:
            key, digest = idempotency
            record = IdempotencyRecord(
                user_id=actor.user_id, key=key, request_hash=digest, order_id=order.id, status=201, response=ticket
            )
            await conn.execute(_INSERT_IDEMPOTENCY, row_of(record))
        events = [OutEvent(f"kds:{shift.id}", "ticket.created", ticket)]
        events += [e for e in (alert_event(shift.id, c) for c in changes) if e is not None]
        await stage_now(conn, shift.id, events)
        await session.commit()
    except IntegrityError:
        # Only the idempotency key can collide: the same key won a race in another process.
        await session.rollback()
        if idempotency is None:
            raise
        replay = await find_replay(session, actor, *idempotency)
        if replay is None:
            raise
        return replay
    return Placed(201, ticket, events)
