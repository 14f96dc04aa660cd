"""Login sessions this node recently confirmed open, so a socket's hello needs no database round trip.

A reconnect storm (every tablet of a city after a node restart) or a database outage must not
make each hello wait on the database. A session confirmed open within ``ttl_s`` is trusted; a
revoked one is forgotten at once on this node (logout) and within a second on every node
(``RevocationWatch`` reads revocations from the database and calls :meth:`forget`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import bindparam
from sqlmodel import col, select

from app.batched import BatchedLookup
from app.db import Database
from app.models import AuthSession
from hub.auth import ConnectionMatch

__all__ = ["OpenSessions", "SessionCache"]

_MAX_ENTRIES = 100_000


class SessionCache:
    def __init__(self, *, ttl_s: float = 60.0) -> None:
        self._ttl_s = ttl_s
        self._until: dict[str, float] = {}
        self._user: dict[str, int] = {}

    def fresh(self, session_id: str) -> bool:
        """True when ``session_id`` was confirmed open less than ``ttl_s`` ago and not forgotten since."""
        until = self._until.get(session_id)
        return until is not None and until > time.monotonic()

    def confirm(self, session_id: str, user_id: int) -> None:
        now = time.monotonic()
        if len(self._until) >= _MAX_ENTRIES:
            self._until = {s: t for s, t in self._until.items() if t > now}
            self._user = {s: u for s, u in self._user.items() if s in self._until}
        self._until[session_id] = now + self._ttl_s
        self._user[session_id] = user_id

    def forget(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            self._until.pop(session_id, None)
            self._user.pop(session_id, None)

    def forget_matching(self, match: ConnectionMatch) -> None:
        """Sessions an authority change just revoked on this node (logout, account changed)."""
        if match.session_id is not None:
            self.forget([match.session_id])
        elif match.user_id is not None:
            self.forget([s for s, u in self._user.items() if u == match.user_id])


class OpenSessions:
    """Whether login sessions are open, always read from the database, in batches.

    Every REST request checks its token's session (a revocation must refuse the token at once, on
    every node), and so does every hello this node has not confirmed recently. A storm's thousands
    of checks share queries (:class:`app.batched.BatchedLookup`); each check still reads after it
    was asked, so a revocation committed before a request arrived is always seen.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lookup: BatchedLookup[str, bool] = BatchedLookup(self._read)

    async def is_open(self, session_id: str) -> bool:
        """Raises the database's errors (``OSError``, ``SQLAlchemyError``)."""
        return await self._lookup.get(session_id) is not None

    async def _read(self, session_ids: list[str]) -> dict[str, bool]:
        async with self._db.read_connection() as conn:
            return {row[0]: True for row in await conn.execute(_OPEN, {"ids": session_ids})}


_OPEN = select(AuthSession.id).where(
    col(AuthSession.id).in_(bindparam("ids", expanding=True)), col(AuthSession.revoked_at).is_(None)
)
