"""The async database engine and session factory, built by the app factory (no module-level engine)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["LOCK_IDLE_S", "LOCK_WAIT_S", "Database", "is_sqlite", "sqlite_problem"]

LOCK_IDLE_S = 15
"""Postgres ends a lock connection idle in its transaction this long: a dead holder's shift lock is freed."""
LOCK_WAIT_S = 5
"""A write waits this long for a shift's lock, then answers 503 (``lock_timeout``)."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_problem(url: str) -> str | None:
    """Why a SQLite file cannot be opened, said before trying (a failed open leaves aiosqlite's thread
    talking to a closed event loop in short-lived commands)."""
    if not is_sqlite(url):
        return None
    path = make_url(url).database
    if not path or path == ":memory:":
        return None
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    return None


class Database:
    """Owns the engine; ``session()`` opens a unit of work."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout_s: float = 10.0) -> None:
        # No ping at every checkout: it is a round trip per session, three per order, one inside the shift's
        # lock. A connection the server ended is found by its first statement instead: SQLAlchemy discards it
        # and every older one, that request answers 503 with Retry-After, and the next one gets a fresh
        # connection (tests/e2e/test_database_reconnect.py).
        kwargs: dict[str, Any] = {"pool_pre_ping": False}
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout_s)
        self.url = url
        self._sqlite = sqlite = is_sqlite(url)
        if sqlite:
            kwargs["connect_args"] = {"timeout": timeout_s}
        else:
            kwargs["connect_args"] = {"timeout": timeout_s, "command_timeout": timeout_s}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Postgres: a small pool of its own for per-shift advisory locks (app.services.serial), so lock holders
        # never compete with request sessions for a connection.
        self.lock_engine: AsyncEngine | None = None
        if not sqlite:
            lock_settings = {
                "idle_in_transaction_session_timeout": str(LOCK_IDLE_S * 1000),
                "lock_timeout": str(LOCK_WAIT_S * 1000),
            }
            lock_kwargs = {
                **kwargs,
                "pool_size": max(2, pool_size // 2),
                "connect_args": {**kwargs["connect_args"], "server_settings": lock_settings},
            }
            self.lock_engine = create_async_engine(url, **lock_kwargs)

    @contextlib.asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that need no transaction of their own: each statement runs alone
        (autocommit), which saves the BEGIN and ROLLBACK round trips of a session that only reads.
        The connection's isolation level is restored when it goes back to the pool."""
        async with self.session() as session:
            if not self._sqlite:  # SQLite begins no transaction for a read anyway; switching costs thread hops
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    @contextlib.asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in autocommit, for single reads: no BEGIN and ROLLBACK round trips."""
        async with self.engine.connect() as conn:
            yield conn if self._sqlite else await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self.lock_engine is not None:
            await self.lock_engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers proceed while a writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
