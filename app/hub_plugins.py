"""The application's side of the hub's plug-in Protocols: tokens, topic permissions, devices."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from app.batched import BatchedLookup
from app.db import Database
from app.guest_access import GUEST_CREDENTIAL, GuestAccess
from app.models import Shift, Truck
from app.models.common import MAX_ID
from app.security import TokenError
from app.services import audit
from app.services.auth import AuthService
from app.sessions import SessionCache
from hub.auth import Authenticator, Authorizer, Principal, PublishRecorder
from hub.codes import CloseCode, ErrorCode
from hub.errors import CloseConnection, HubError
from hub.topics import Topic, TopicFamily

__all__ = [
    "TOPIC_FAMILIES",
    "AuditedNotices",
    "TokenAuthenticator",
    "TopicPermissions",
    "is_driver",
]

# protocol.md §2.4 (the GPS families are app.gps.topics')
TOPIC_FAMILIES = [
    TopicFamily("shift", "reliable"),
    TopicFamily("kds", "reliable"),
    TopicFamily("stock", "reliable"),
    TopicFamily("notice", "reliable"),
    TopicFamily("order", "reliable", token_keys=True),  # order:{order_token}, v1.1 (app.guest_access)
]
_SHIFT_FAMILIES = frozenset({"shift", "kds", "stock"})
_EVERYTHING = frozenset({"admin", "manager"})
_TRUCK_CACHE_S = 60.0

log = logging.getLogger("app.hub")


def is_driver(principal: Principal) -> bool:
    """protocol.md §1: only drivers stream GPS (anyone else gets ``forbidden``)."""
    return principal.claims.get("role") == "driver"


class TokenAuthenticator:
    """A hello's token: its signature and expiry, then its login session still open.

    The session check needs the database unless this node confirmed the session recently
    (``SessionCache``); it waits at most ``wait_s``, then the socket is closed 1011 (reconnect
    shortly): a tablet must not hang in hello while the database is away, nor be told 4401 (log
    in again) when its token is fine.
    """

    def __init__(self, db: Database, auth: AuthService, sessions: SessionCache, *, wait_s: float = 2.0) -> None:
        self._guests = GuestAccess(db)
        self._auth = auth
        self._sessions = sessions
        self._wait_s = wait_s

    async def authenticate(self, token: str, credential: str = "token") -> Principal:
        if credential == GUEST_CREDENTIAL:  # protocol.md §2.1: a guest's hello
            return await self._guests.principal(token)
        try:
            claims = self._auth.signer.verify(token)
        except TokenError as exc:
            raise HubError(ErrorCode.UNAUTHORIZED, str(exc)) from None
        if not self._sessions.fresh(claims.session_id):
            try:
                async with asyncio.timeout(self._wait_s):
                    open_ = await self._auth.open_sessions.is_open(claims.session_id)
            except (TimeoutError, OSError, SQLAlchemyError) as exc:
                log.warning("hello refused: database unavailable (%s)", type(exc).__name__)
                raise CloseConnection(
                    CloseCode.INTERNAL_ERROR, "database unavailable: reconnect shortly", error=ErrorCode.INTERNAL
                ) from None
            if not open_:
                raise HubError(ErrorCode.UNAUTHORIZED, "session revoked: log in again")
            self._sessions.confirm(claims.session_id, claims.user_id)
        return Principal(
            user_id=claims.user_id,
            session_id=claims.session_id,
            expires_at=claims.expires_at,
            public=claims.user(),
            claims={"role": claims.role, "truck_id": claims.truck_id},
        )


class TopicPermissions:
    """protocol.md §1 and §2.4: who may subscribe to (and publish on) what. Ownership checked server-side."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._guests = GuestAccess(db)
        self._shift_truck: dict[int, int] = {}  # a shift never changes truck: cache forever
        self._trucks_seen: dict[int, float] = {}  # truck id -> when it was last confirmed to exist
        # After a restart every tablet subscribes at once with the cache cold: one query for all of them.
        self._read_trucks: BatchedLookup[int, int] = BatchedLookup(self._trucks_of_shifts)

    async def _trucks_of_shifts(self, shift_ids: list[int]) -> dict[int, int]:
        async with self._db.read_connection() as conn:
            return {shift_id: truck_id for shift_id, truck_id in await conn.execute(_TRUCKS_OF, {"ids": shift_ids})}

    async def _truck_of_shift(self, shift_id: int) -> int:
        truck = self._shift_truck.get(shift_id)
        if truck is None:
            truck = await self._read_trucks.get(shift_id)
            if truck is None:
                raise HubError(ErrorCode.NOT_FOUND, f"no shift {shift_id}")
            self._shift_truck[shift_id] = truck
        return truck

    async def _truck_exists(self, truck_id: int) -> None:
        # Cached for a minute: a publish path without awaits lets the hub batch back-to-back events.
        if time.monotonic() - self._trucks_seen.get(truck_id, -1e9) < _TRUCK_CACHE_S:
            return
        async with self._db.session() as session:
            if await session.get(Truck, truck_id) is None:
                raise HubError(ErrorCode.NOT_FOUND, f"no truck {truck_id}")
        self._trucks_seen[truck_id] = time.monotonic()

    async def authorize_subscribe(self, principal: Principal, topic: Topic) -> None:
        role = principal.claims.get("role")
        family, key = topic.family.name, topic.key
        _exists(topic)
        if family in _SHIFT_FAMILIES:
            assert key is not None
            truck = await self._truck_of_shift(key)
            if role in _EVERYTHING or (role == "staff" and principal.claims.get("truck_id") == truck):
                return
        elif family == "notice":
            assert key is not None
            if role in _EVERYTHING or (role == "staff" and principal.claims.get("truck_id") == key):
                await self._truck_exists(key)
                return
        elif family == "gps:driver":
            if role in _EVERYTHING or (role == "driver" and principal.user_id == key):
                return
        elif family == "gps:fleet" and role in _EVERYTHING:
            return
        elif family == "order":
            return await self._guests.authorize(principal, topic)
        raise HubError(ErrorCode.FORBIDDEN, f"not allowed to subscribe to {topic.name}")

    async def authorize_publish(self, principal: Principal, topic: Topic) -> None:
        if topic.family.name != "notice":
            raise HubError(ErrorCode.FORBIDDEN, "only notice: topics accept publish")
        if principal.claims.get("role") not in _EVERYTHING:
            raise HubError(ErrorCode.FORBIDDEN, "only admins and managers may publish notices")
        assert topic.key is not None
        _exists(topic)
        await self._truck_exists(topic.key)


def _exists(topic: Topic) -> None:
    """A key beyond every id column names nothing: never a query (Postgres would refuse it as out of range).

    Token-keyed families (``order:{order_token}``) have ``key`` None and are looked up by their token instead.
    """
    if topic.family.token_keys:
        return
    if topic.key is not None and topic.key > MAX_ID:
        raise HubError(ErrorCode.NOT_FOUND, f"no such topic {topic.name[:64]!r}")


class AuditedNotices:
    """A manager's notice to a truck's devices is a privileged action: it goes into the audit log.

    Written behind, in batches: the hub handles a socket's commands one after another, so a write
    per notice before the next one held a manager's burst of notices to one database commit each
    (about 150 notices/s on SQLite). The notice is out before it is recorded either way.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[int, Topic, str, Any, int]] = []
        self._writer: asyncio.Task[None] | None = None

    async def published(self, principal: Principal, topic: Topic, event: str, data: Any, seq: int) -> None:
        self._pending.append((principal.user_id, topic, event, data, seq))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="notice-audit")

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self._db.session() as session:
                        for user_id, topic, event, data, seq in batch:
                            truck = topic.key if topic.family.name == "notice" else None
                            new = {"event": event, "data": data, "seq": seq}
                            audit.record(session, user_id, "notice.publish", topic.name, new=new, truck_id=truck)
                        await session.commit()
                except Exception:
                    log.exception("recording %d client publishes in the audit log failed", len(batch))
        finally:
            self._writer = None

    async def flush(self, timeout: float) -> None:
        """At shutdown: the notices published so far get their audit rows (bounded wait)."""
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)


_checks: tuple[type[Authenticator], type[Authorizer], type[PublishRecorder]] = (
    TokenAuthenticator,
    TopicPermissions,
    AuditedNotices,
)


_TRUCKS_OF = select(Shift.id, Shift.truck_id).where(col(Shift.id).in_(bindparam("ids", expanding=True)))
