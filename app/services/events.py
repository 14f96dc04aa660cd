"""Events a change announces, staged in the change's own transaction (the outbox).

A service calls :func:`stage` before its commit: the events become durable exactly when the
change does, and a relay (``app.services.relay``) publishes them in order afterwards, from this
node or any other. Nothing committed waits in a process's memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.outbox import OutboxEvent
from app.models.tables import table_of

__all__ = ["OutEvent", "stage", "stage_now"]


@dataclass(frozen=True, slots=True)
class OutEvent:
    topic: str
    event: str
    data: Any


def stage(session: AsyncSession, shift_id: int, events: Sequence[OutEvent]) -> None:
    """Add ``events`` to the session's transaction, in order; the caller holds the shift's lock and commits."""
    session.add_all(OutboxEvent(**row) for row in _rows(shift_id, events))


_STAGE = insert(table_of(OutboxEvent))


async def stage_now(conn: AsyncConnection, shift_id: int, events: Sequence[OutEvent]) -> None:
    """:func:`stage` as one Core INSERT on the transaction's connection, for writers that skip the ORM."""
    rows = _rows(shift_id, events)
    if rows:
        await conn.execute(_STAGE, rows)


def _rows(shift_id: int, events: Sequence[OutEvent]) -> list[dict[str, Any]]:
    """The outbox rows of ``events``, in order: ``data`` encoded once, one staging time."""
    now = time.time()
    return [
        {"shift_id": shift_id, "topic": ev.topic, "event": ev.event, "data": orjson.dumps(ev.data), "created_at": now}
        for ev in events
    ]
