"""What makes a lost webhook, a crash or an abandoned cart harmless (protocol.md §4.3 reconcile).

Per shift, under its lock: unpaid holds past ``hold_expires_at`` give their units back
(``expired``), and paid orders with no ticket (the shift was paused when the payment came) are
queued once the shift takes orders again, or rejected (refund) once it closed. A payment that
committed always queued its ticket in the same transaction, so "paid but invisible" can only
mean "waiting for the shift": nothing here guesses.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.errors import ApiError
from app.models import GuestOrder, Shift, utcnow
from app.services.events import OutEvent, stage
from app.services.guest_orders import expire_holds
from app.services.guest_payments import queue_ticket, reject
from app.services.relay import Relay
from app.services.serial import ShiftLocks

__all__ = ["Tally", "reconcile_all", "reconcile_shift", "run_periodically"]

log = logging.getLogger("app.guest")


@dataclass(slots=True)
class Tally:
    queued: int = 0
    expired: int = 0
    rejected: int = 0
    events: list[OutEvent] = field(default_factory=list)


async def reconcile_shift(session: AsyncSession, shift: Shift) -> Tally:
    """Expire the shift's lapsed holds and queue (or reject) its paid orders without a ticket; commits."""
    assert shift.id is not None
    tally = Tally()
    tally.events, tally.expired = await expire_holds(session, shift.id)
    waiting = list(
        await session.exec(
            select(GuestOrder).where(
                GuestOrder.shift_id == shift.id, GuestOrder.status == "paid", col(GuestOrder.order_id).is_(None)
            )
        )
    )
    for guest in waiting:
        if shift.status == "closed":
            tally.events += await reject(session, shift, guest, "the shift closed before the order could be made")
            tally.rejected += 1
            continue
        try:
            tally.events += await queue_ticket(session, shift, guest)
        except ApiError:  # still paused: next time
            break
        tally.queued += 1
    stage(session, shift.id, tally.events)
    await session.commit()
    return tally


async def _shifts_to_reconcile(db: Database) -> list[int]:
    async with db.session() as session:
        rows = await session.exec(
            select(GuestOrder.shift_id)
            .where(
                or_(
                    (col(GuestOrder.status) == "pending_payment") & (col(GuestOrder.hold_expires_at) <= utcnow()),
                    (col(GuestOrder.status) == "paid") & col(GuestOrder.order_id).is_(None),
                )
            )
            .distinct()
        )
        return sorted(set(rows))


async def reconcile_all(db: Database, locks: ShiftLocks, relay: Relay) -> Tally:
    """Every shift with something to do, one at a time under its lock; events published before the next."""
    total = Tally()
    for shift_id in await _shifts_to_reconcile(db):
        async with locks.write(shift_id) as session:
            shift = await session.get(Shift, shift_id)
            if shift is None:
                continue
            tally = await reconcile_shift(session, shift)
        try:
            await relay.flush(shift_id)
        except Exception as exc:  # committed: the relay's sweep publishes them
            log.warning("publishing reconcile events of shift %d failed (%s)", shift_id, exc)
        total.queued, total.expired, total.rejected = (
            total.queued + tally.queued,
            total.expired + tally.expired,
            total.rejected + tally.rejected,
        )
    return total


async def run_periodically(db: Database, locks: ShiftLocks, relay: Relay, every_s: float) -> None:
    """The background reconcile of every node (safe to run on many: each shift is done under its lock)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            tally = await reconcile_all(db, locks, relay)
        except Exception as exc:  # the database may be away for a while: try again next round
            log.warning("guest reconcile failed (%s); retrying in %.0f s", exc, every_s)
            continue
        if tally.queued or tally.expired or tally.rejected:
            log.info("guest reconcile: queued %d, expired %d, rejected %d", tally.queued, tally.expired, tally.rejected)
