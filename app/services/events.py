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
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.outbox import OutboxEvent

__all__ = ["OutEvent", "stage"]


@dataclass(frozen=True, slots=True)
class OutEvent:
    topic: str
    event: str
    data: Any


def stage(session: AsyncSession, shift_id: int, events: Sequence[OutEvent]) -> None:
    """Add ``events`` to the session's transaction, in order; the caller holds the shift's lock and commits."""
    now = time.time()
    session.add_all(
        OutboxEvent(shift_id=shift_id, topic=ev.topic, event=ev.event, data=orjson.dumps(ev.data), created_at=now)
        for ev in events
    )
