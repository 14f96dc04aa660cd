"""The outbox relay: publishes committed events in commit order, from any node, at most once each.

Three callers share one method, :meth:`Relay.flush`:
- the request that committed a change, right after its commit (and after releasing the shift's
  lock), so a tablet sees the change before the REST call returns whenever the broker is up;
- a snapshot, under the shift's lock, before it reads rows and the topic's position;
- a sweep every ``interval_s`` on every node, for rows older than ``settle_s``: events whose
  request could not publish them (broker down, node killed between commit and publish).

A flush deletes the shift's oldest rows (``DELETE … RETURNING``), publishes each with its id as
the broker's repeat guard, and commits the delete only then. A relay that dies (or a broker that
fails) before that commit leaves the rows for the next flush, which publishes them again: the
broker skips those already out (``Broker.publish(guard=…)``), so no event is doubled on the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func
from sqlmodel import select

from app.db import Database
from app.metrics import OutboxMetrics
from app.models.outbox import OutboxEvent
from app.models.tables import table_of
from app.services.serial import ShiftLocks
from hub.broker.base import BrokerUnavailable
from hub.errors import ProtocolError
from hub.hub import Hub

__all__ = ["Backlog", "Relay"]

log = logging.getLogger("app.relay")
_BATCH = 200
_OUTBOX = table_of(OutboxEvent)
_TAKE = (
    delete(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(
            select(_OUTBOX.c.id)
            .where(_OUTBOX.c.shift_id == bindparam("shift_id"))
            .order_by(_OUTBOX.c.id)
            .limit(_BATCH)
            .scalar_subquery()
        )
    )
    .returning(_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.event, _OUTBOX.c.data)
)
"""A flush's batch: the shift's oldest pending rows, deleted in the flush's transaction. It commits only after
publishing them, and a concurrent flush of the shift waits on their row locks until then (so it cannot
publish a later row before these), then finds them gone."""

_SHIFTS_PER_SWEEP = 100
_PENDING = select(_OUTBOX.c.shift_id, func.count(), func.min(_OUTBOX.c.created_at)).group_by(_OUTBOX.c.shift_id)
"""Per shift with pending events: how many, and when the oldest was committed."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the outbox: how many events, and the age of the oldest (0 when none)."""

    pending: int = 0
    oldest_s: float = 0.0


class Relay:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        locks: ShiftLocks,
        *,
        metrics: OutboxMetrics | None = None,
        interval_s: float = 0.5,
        settle_s: float = 1.0,
    ) -> None:
        self._metrics = metrics
        self._db = db
        self._hub = hub
        self._locks = locks
        self._interval_s = interval_s
        self._settle_s = settle_s
        self.backlog = Backlog()
        self._failing = False

    async def flush(self, shift_id: int) -> bool:
        """Publish the shift's pending events in order, then forget them.

        Returns True when none is left, False when the broker refused (the rest waits for a sweep).
        Flushes of one shift may overlap: each publishes in id order and the broker skips a guard
        not above the topic's last, so a row two flushes both see goes out once.
        """
        while True:
            async with self._db.session() as session:
                conn = await session.connection()
                rows = sorted((await conn.execute(_TAKE, {"shift_id": shift_id})).all())  # RETURNING has no order
                if not rows:
                    return True
                try:
                    for row_id, topic, event, data in rows:
                        try:
                            await self._hub.publish_encoded(topic, event, data, guard=row_id)
                        except ProtocolError as exc:  # a topic the hub no longer knows: never block the shift on it
                            log.error("dropping outbox event %d (%s on %s): %s", row_id, event, topic, exc)
                except BrokerUnavailable:
                    # Rolled back with the session: every row is pending again, and the ones that did go
                    # out are skipped by the broker as repeats when the next flush publishes them.
                    return False
                await session.commit()
            if len(rows) < _BATCH:
                return True

    async def sweep(self) -> Backlog:
        """Flush every shift with events older than ``settle_s``, oldest first; returns the backlog seen before.

        One autocommit read per sweep (every node runs one twice a second, idle or not): the backlog and the
        shifts to flush come from the same grouped rows, none when the outbox is empty."""
        async with self._db.read_connection() as conn:
            groups = (await conn.execute(_PENDING)).all()
        stale = time.time() - self._settle_s
        oldest = min((first for _, _, first in groups), default=None)
        age = max(0.0, time.time() - oldest) if oldest is not None else 0.0
        self.backlog = Backlog(sum(n for _, n, _ in groups), age)
        if self._metrics is not None:
            self._metrics.pending.set(self.backlog.pending)
            self._metrics.oldest.set(self.backlog.oldest_s)
        due = sorted((first, shift_id) for shift_id, _, first in groups if first < stale)[:_SHIFTS_PER_SWEEP]
        for _, shift_id in due:
            if not self._hub.broker_up:
                break
            async with self._locks.hold(shift_id):
                await self.flush(shift_id)
        return self.backlog

    async def run(self) -> None:
        """Sweep forever; one warning when sweeping starts failing (database down), one line when it recovers."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or the lock is unreachable: try again next tick
                if not self._failing:
                    log.warning("outbox relay cannot sweep (%s: %s); retrying", type(exc).__name__, exc)
                self._failing = True
                continue
            if self._failing:
                log.info("outbox relay sweeping again")
            self._failing = False
