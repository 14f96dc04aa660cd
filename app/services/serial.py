"""Per-shift serialization of writes, and of writes against "read snapshot, then read seq".

protocol.md §3 "Snapshot + stream": a snapshot must return data and the topic's seq read
consistently, so a tablet that loads it and subscribes ``since`` misses nothing and sees
nothing twice. A writer holds the shift's lock for its transaction, up to its commit, so the
outbox ids of a shift follow commit order; it publishes after releasing it (the next write need
not wait for the broker). A snapshot holds the lock while it publishes what is still pending
(:meth:`app.services.relay.Relay.flush`), reads rows and reads the position: no commit can slip
in between, and every committed change it sees is already on the stream. Without it, a
snapshot taken between a commit and its publish would contain the ticket *and* replay its event.

``ShiftLocks`` is the seam: ``LocalShiftLocks`` serializes one process; ``PostgresShiftLocks``
adds a Postgres advisory lock per shift so every process writing to the database agrees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["LocalShiftLocks", "PostgresShiftLocks", "ShiftLocks", "StallingLocks"]

_LOCK_CLASS = 0x46580001  # first key of pg_advisory_lock(int, int): "FX" shift locks, apart from other users


class ShiftLocks(Protocol):
    def hold(self, shift_id: int) -> contextlib.AbstractAsyncContextManager[None]: ...


class LocalShiftLocks:
    """One ``asyncio.Lock`` per shift that has a holder or waiter; idle shifts cost nothing."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(shift_id) or (asyncio.Lock(), 0)
        self._locks[shift_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[shift_id]
            if users == 1:
                del self._locks[shift_id]
            else:
                self._locks[shift_id] = (lock, users - 1)


class PostgresShiftLocks:
    """A transaction-scoped ``pg_advisory_xact_lock(class, shift)`` on a connection of a pool of its own.

    The lock covers a snapshot's publish and reads as well as writes, so it cannot live in a write's
    own transaction; it lives in a transaction of its own that ends (releasing it) when the holder
    leaves. Nothing can strand it: the lock engine's connections set ``lock_timeout`` (a
    waiter gives up, 503, rather than queue forever) and ``idle_in_transaction_session_timeout``
    (a holder that died or was cut off from Postgres is disconnected by the server, and its lock
    released, within ``app.db.LOCK_IDLE_S``, instead of TCP keepalive's two hours). Its own pool
    means a holder never waits for a connection another waiter holds. The local lock in front
    keeps one connection per shift per process.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local = LocalShiftLocks()

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        args = {"c": _LOCK_CLASS, "k": shift_id}
        async with self._local.hold(shift_id), self._engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), args)
            try:
                yield
            finally:
                try:
                    await conn.rollback()  # ends the lock's transaction: released
                except BaseException:
                    await conn.invalidate()  # a dropped connection releases its locks too
                    raise


class StallingLocks:
    """Fault tests only: every holder keeps the lock ``stall_s`` longer after its work, like a node that
    hangs (or is cut off from the database) while holding it."""

    def __init__(self, inner: ShiftLocks, stall_s: float) -> None:
        self._inner, self._stall_s = inner, stall_s

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        async with self._inner.hold(shift_id):
            yield
            await asyncio.sleep(self._stall_s)


_check: type[ShiftLocks] = LocalShiftLocks
_check_pg: type[ShiftLocks] = PostgresShiftLocks
_check_stall: type[ShiftLocks] = StallingLocks
