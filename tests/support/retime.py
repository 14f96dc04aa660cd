"""Rewrite stored times, so report tests decide when orders were placed without waiting for the clock.

The server under test wrote the rows through the real API; these helpers only move their timestamps, through
the models (so the same code works on SQLite and Postgres), on a connection of the test's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.models import InventoryAdjustment, Order, OrderStatusChange, Shift
from tests.support.server import RunningServer

__all__ = ["db_session", "move_shift", "set_order_times", "set_shift_times"]

ORDER_STAMPS = ("created_at", "updated_at", "started_at", "ready_at", "completed_at", "cancelled_at")


@contextlib.asynccontextmanager
async def db_session(server: RunningServer) -> AsyncIterator[AsyncSession]:
    """A session on the server's database, committed on exit."""
    db = Database(server.settings.database_url)
    try:
        async with db.session() as session:
            yield session
            await session.commit()
    finally:
        await db.close()


async def set_order_times(server: RunningServer, order_id: int, **stamps: datetime | None) -> None:
    async with db_session(server) as session:
        order = await session.get(Order, order_id)
        assert order is not None
        for name, value in stamps.items():
            assert name in ORDER_STAMPS, name
            setattr(order, name, value)
        session.add(order)


async def set_shift_times(server: RunningServer, shift_id: int, started_at: datetime, ended_at: datetime) -> None:
    async with db_session(server) as session:
        shift = await session.get(Shift, shift_id)
        assert shift is not None
        shift.started_at, shift.ended_at = started_at, ended_at
        session.add(shift)


async def move_shift(server: RunningServer, shift_id: int, start: datetime) -> None:
    """Move everything recorded on a shift by the same amount so that it starts at ``start``: the order of
    events (which the sold-out derivation replays) is kept."""
    async with db_session(server) as session:
        shift = await session.get(Shift, shift_id)
        assert shift is not None
        delta = start - shift.started_at
        shift.started_at = start
        shift.ended_at = shift.ended_at + delta if shift.ended_at else None
        session.add(shift)
        orders = list(await session.exec(select(Order).where(Order.shift_id == shift_id)))
        for order in orders:
            for name in ORDER_STAMPS:
                value = getattr(order, name)
                if value is not None:
                    setattr(order, name, value + delta)
            session.add(order)
        changes = await session.exec(
            select(OrderStatusChange).where(col(OrderStatusChange.order_id).in_([o.id for o in orders]))
        )
        adjustments = await session.exec(select(InventoryAdjustment).where(InventoryAdjustment.shift_id == shift_id))
        for row in [*changes, *adjustments]:
            row.at += delta
            session.add(row)
