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
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.outbox import OutboxEvent

__all__ = ["OutEvent", "row_of", "stage", "stage_now", "table_of"]


@dataclass(frozen=True, slots=True)
class OutEvent:
    topic: str
    event: str
    data: Any


def stage(session: AsyncSession, shift_id: int, events: Sequence[OutEvent]) -> None:
    """Add ``events`` to the session's transaction, in order; the caller holds the shift's lock and commits."""
    session.add_all(OutboxEvent(**row) for row in _rows(shift_id, events))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class, for statements that skip the unit of work."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def row_of(instance: SQLModel) -> dict[str, Any]:
    """An instance's column values for a Core INSERT (an id still None is left to the database)."""
    table = table_of(type(instance))
    values = {c.name: getattr(instance, c.name) for c in table.columns}
    return {name: value for name, value in values.items() if value is not None or not table.c[name].primary_key}


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
