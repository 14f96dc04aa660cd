"""One path for every change that takes authority away: the database first, then every node's sockets.

Logout, a reused refresh token, a password change, a user deactivated, deleted, demoted or
moved to another truck: each revokes login sessions in the database (so every token of those
sessions is refused at once, on every node, REST and ``hello`` alike) and then closes the
sessions' sockets 4401 everywhere through the hub's control channel.

The control channel is instant but not durable: a node that misses it (broker down) or a
change made outside a server (``python -m app users disable``) would leave sockets open. So
every node also runs :class:`RevocationWatch`, which reads newly revoked sessions from the
database each second and closes their sockets locally.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.models import AuthSession, utcnow
from app.models.tables import table_of
from app.sessions import SessionCache
from hub.auth import ConnectionMatch
from hub.codes import CloseCode
from hub.hub import Hub

__all__ = ["RevocationWatch", "close_revoked", "revoke_sessions"]

log = logging.getLogger("app.revocation")

# A revocation written by another node with a clock this far behind ours is still seen.
_CLOCK_SLACK = timedelta(seconds=30)


async def revoke_sessions(session: AsyncSession, *, user_id: int, keep: str | None = None) -> list[str]:
    """Revoke every open login session of ``user_id`` (but ``keep``) in the caller's transaction; returns their ids."""
    condition = [col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)]
    if keep is not None:
        condition.append(col(AuthSession.id) != keep)
    ids = list((await session.exec(select(AuthSession.id).where(*condition))).all())
    if ids:
        await session.exec(update(AuthSession).where(col(AuthSession.id).in_(ids)).values(revoked_at=utcnow()))
    return ids


async def close_revoked(hub: Hub, sessions: SessionCache, match: ConnectionMatch, reason: str) -> int:
    """After the commit: close the matching sockets on every node with 4401; returns how many here.

    This node's hello stops trusting those sessions at once; other nodes' within a second (the watch).
    """
    sessions.forget_matching(match)
    return await hub.close_everywhere(match, CloseCode.UNAUTHORIZED, reason)


_SESSIONS = table_of(AuthSession)
_REVOKED_SINCE = select(_SESSIONS.c.id, _SESSIONS.c.revoked_at).where(_SESSIONS.c.revoked_at >= bindparam("horizon"))


class RevocationWatch:
    """Closes this node's sockets of sessions revoked in the database, whoever revoked them."""

    def __init__(self, db: Database, hub: Hub, sessions: SessionCache, *, interval_s: float = 1.0) -> None:
        self._db = db
        self._hub = hub
        self._sessions = sessions
        self._interval_s = interval_s
        self._since: datetime = utcnow()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = self._hub.spawn(self._run(), name="revocation-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception as exc:  # database unreachable: the next round tries again
                log.warning("revocation watch: %s: %s", type(exc).__name__, exc)

    async def check(self) -> int:
        """One round; returns how many sockets it closed. Sessions revoked in the last few seconds are read
        again next round (harmless: closing twice is a no-op), so a slow clock on another node loses nothing."""
        horizon = self._since - _CLOCK_SLACK
        async with self._db.read_connection() as conn:  # every second on every node: one autocommit read
            rows = (await conn.execute(_REVOKED_SINCE, {"horizon": horizon})).all()
        revoked = {session_id for session_id, _ in rows}
        latest = max((_aware(at) for _, at in rows if at is not None), default=None)
        if latest is not None and latest > self._since:
            self._since = latest
        if not revoked:
            return 0
        self._sessions.forget(revoked)  # a hello on this node must ask the database again
        return sum(
            self._hub.close_matching(ConnectionMatch(session_id=s), CloseCode.UNAUTHORIZED, "session revoked")
            for s in revoked
        )


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every time here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
