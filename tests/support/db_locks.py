"""Locks a test holds on the real database to make the hub wait for it, the honest way (nothing mocked)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

__all__ = ["devices_locked", "sessions_unreadable"]


@contextlib.asynccontextmanager
async def _postgres_lock(url: str, statement: str) -> AsyncIterator[None]:
    """``statement`` (a ``LOCK TABLE``) held in a transaction of a connection of its own until the block ends."""
    parsed = make_url(url)
    pg = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, password=parsed.password,
        database=parsed.database,
    )  # fmt: skip
    try:
        async with pg.transaction():
            await pg.execute(statement)
            yield
    finally:
        await pg.close()


@contextlib.asynccontextmanager
async def devices_locked(url: str) -> AsyncIterator[None]:
    """Writes to ``devices`` wait until the block ends (reads go on): SQLite's one writer lock, or a PostgreSQL
    table lock in EXCLUSIVE mode."""
    if not url.startswith("sqlite"):
        async with _postgres_lock(url, "LOCK TABLE devices IN EXCLUSIVE MODE"):
            yield
        return
    db = sqlite3.connect(str(make_url(url).database), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # the one writer lock of the file: other writers wait (WAL readers do not)
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


@contextlib.asynccontextmanager
async def sessions_unreadable(url: str) -> AsyncIterator[None]:
    """Reads of ``auth_sessions`` wait until the block ends: a hello whose session its node has not confirmed
    waits for the database, as behind an exhausted pool. PostgreSQL only (SQLite's WAL never blocks readers)."""
    if url.startswith("sqlite"):
        pytest.skip("SQLite cannot make one table wait for readers; the PostgreSQL run covers this")
    async with _postgres_lock(url, "LOCK TABLE auth_sessions IN ACCESS EXCLUSIVE MODE"):
        yield
