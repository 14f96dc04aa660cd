"""Per-shift serialization of writes, and of writes against "read snapshot, then read seq".

protocol.md §3 "Snapshot + stream": a snapshot must return data and the topic's seq read
consistently, so a tablet that loads it and subscribes ``since`` misses nothing and sees
nothing twice. A writer holds the shift's lock for its transaction, up to its commit
(:meth:`ShiftLocks.write`), so the outbox ids of a shift follow commit order; it publishes after
the commit (the next write need not wait for the broker). A snapshot holds the lock
(:meth:`ShiftLocks.hold`) while it publishes what is still pending
(:meth:`app.services.relay.Relay.flush`), reads rows and reads the position: no commit can slip
in between, and every committed change it sees is already on the stream. Without it, a
snapshot taken between a commit and its publish would contain the ticket *and* replay its event.

``LocalShiftLocks`` serializes one process; ``PostgresShiftLocks`` adds a Postgres advisory lock
per shift so every process writing to the database agrees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import LOCK_IDLE_S, LOCK_WAIT_S

__all__ = ["SHIFT_LOCK_CLASS", "LocalShiftLocks", "PostgresShiftLocks", "ShiftLocks", "StallingLocks"]

SHIFT_LOCK_CLASS = 0x46580001  # first key of pg_advisory_lock(int, int): "FX" shift locks, apart from other users

Sessions = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]


class ShiftLocks(Protocol):
    def hold(self, shift_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """The shift's lock for the block (snapshots: publish pending, read rows, read the position)."""
        ...

    def write(self, shift_id: int) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session whose transaction holds the shift's lock until it commits or ends."""
        ...


class _ProcessLocks:
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


class LocalShiftLocks:
    """One process's locks (SQLite serves one machine, one process)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self._local = _ProcessLocks()

    def hold(self, shift_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self._local.hold(shift_id)

    @contextlib.asynccontextmanager
    async def write(self, shift_id: int) -> AsyncIterator[AsyncSession]:
        async with self._local.hold(shift_id), self._sessions() as session:
            yield session


class PostgresShiftLocks:
    """A transaction-scoped ``pg_advisory_xact_lock(class, shift)``, which nothing can strand.

    A writer takes it as the first statement of its own transaction, so it costs one round trip and
    ends with the commit. A snapshot's lock covers a publish and reads on other connections, so it
    lives in a transaction of its own on a small pool of its own (a holder never waits for a
    connection another waiter holds) that ends, releasing it, when the holder leaves.

    Either way a waiter gives up after ``LOCK_WAIT_S`` (``lock_timeout``: 503, rather than queue
    forever), and a holder that died or was cut off from Postgres is disconnected by the server,
    and its lock released, within ``LOCK_IDLE_S`` (``idle_in_transaction_session_timeout``) instead
    of TCP keepalive's two hours. The process lock in front keeps one waiter per shift per process.
    """

    _TAKE = text(
        "SELECT set_config('lock_timeout', :wait, true),"
        " set_config('idle_in_transaction_session_timeout', :idle, true),"
        " pg_advisory_xact_lock(:c, :k)"
    )

    def __init__(self, engine: AsyncEngine, sessions: Sessions) -> None:
        self._engine = engine
        self._sessions = sessions
        self._local = _ProcessLocks()

    def _args(self, shift_id: int) -> dict[str, object]:
        return {"wait": f"{LOCK_WAIT_S * 1000}", "idle": f"{LOCK_IDLE_S * 1000}", "c": SHIFT_LOCK_CLASS, "k": shift_id}

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        async with self._local.hold(shift_id), self._engine.connect() as conn:
            await conn.execute(self._TAKE, self._args(shift_id))
            try:
                yield
            finally:
                try:
                    await conn.rollback()  # ends the lock's transaction: released
                except BaseException:
                    await conn.invalidate()  # a dropped connection releases its locks too
                    raise

    @contextlib.asynccontextmanager
    async def write(self, shift_id: int) -> AsyncIterator[AsyncSession]:
        args = self._args(shift_id)

        def take(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
            connection.execute(self._TAKE, args)  # runs in the session's greenlet: no await needed

        async with self._local.hold(shift_id), self._sessions() as session:
            # Every transaction of the session takes the lock first, also one begun after a rollback
            # (a service that undoes part of its work and writes something else instead).
            event.listen(session.sync_session, "after_begin", take)
            await session.connection()  # the first transaction begins: wait for the lock now
            yield session  # released by each commit, or the rollback when the session closes


class StallingLocks:
    """Fault tests only: every holder stalls ``stall_s`` right after taking the lock, like a node that
    hangs (or is cut off from the database) while holding it."""

    def __init__(self, inner: ShiftLocks, stall_s: float) -> None:
        self._inner, self._stall_s = inner, stall_s

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        async with self._inner.hold(shift_id):
            await asyncio.sleep(self._stall_s)
            yield

    @contextlib.asynccontextmanager
    async def write(self, shift_id: int) -> AsyncIterator[AsyncSession]:
        async with self._inner.write(shift_id) as session:
            await asyncio.sleep(self._stall_s)
            yield session


_check: type[ShiftLocks] = LocalShiftLocks
_check_pg: type[ShiftLocks] = PostgresShiftLocks
_check_stall: type[ShiftLocks] = StallingLocks
