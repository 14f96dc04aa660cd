"""The ``devices`` table, kept current by the hub without a database write on a socket's hello.

A hello used to write its device row (select, insert or update, commit) before ``welcome``. In a
reconnect storm that is thousands of write transactions at once; on SQLite they queue for the one
writer, and hellos waited seconds for the database. Now a hello of a device this node already knows
needs no database at all; an unknown device costs one read (the user's device ids, for the per-user
cap), and every registration is written behind: one writer task, one transaction per batch of
upserts. ``disconnected`` (the hub's own write-behind of offline marks) writes whatever online marks
are still pending first, under the same lock, so a device that came and went is never left online.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import bindparam, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select, update

from app.batched import BatchedLookup
from app.db import Database
from app.models import Device, utcnow
from hub.auth import DeviceTracker, Principal
from hub.codes import ErrorCode
from hub.errors import HubError
from hub.protocol.commands import Device as HelloDevice

__all__ = ["DbDevices"]

log = logging.getLogger("app.hub")

_CHUNK = 500  # rows per statement: far below SQLite's and asyncpg's bound-parameter limits
_KNOWN_TTL_S = 300.0  # a user's device ids read this long ago are read again on the next unknown device


class DbDevices:
    """The hub's :class:`hub.auth.DeviceTracker` over the ``devices`` table."""

    def __init__(self, db: Database, *, max_per_user: int = 50) -> None:
        self._db = db
        self._max_per_user = max_per_user
        self._known: dict[int, tuple[float, set[str]]] = {}  # user id -> (read at, device ids in the table)
        self._online: dict[tuple[int, str], tuple[str, str | None]] = {}  # pending: (user, device) -> (kind, app)
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write at a time: online batches and offline batches stay in order
        self._ids: BatchedLookup[int, set[str]] = BatchedLookup(self._read_ids)
        insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        table = Device.__table__  # type: ignore[attr-defined]  # SQLModel declares it at class creation
        upsert = insert(table)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["user_id", "device_id"],
            set_={"kind": upsert.excluded.kind, "app": upsert.excluded.app, "online": True,
                  "last_seen": upsert.excluded.last_seen, "seen_via": "socket"},
        )  # fmt: skip

    async def connected(self, principal: Principal, device: HelloDevice) -> None:
        """Registers the device (written behind) after checking the user's cap.

        Raises:
            HubError: ``rate_limited`` when this would be one device too many for the user.
        """
        if principal.public is None:  # a guest's phone is not a registered device
            return
        user = principal.user_id
        known = self._known.get(user)
        if known is None or device.id not in known[1]:
            if known is None or time.monotonic() - known[0] > _KNOWN_TTL_S or len(known[1]) >= self._max_per_user:
                known = (time.monotonic(), await self._device_ids(user))
                self._known[user] = known
            ids = known[1]
            if device.id not in ids and len(ids) >= self._max_per_user:
                raise HubError(
                    ErrorCode.RATE_LIMITED,
                    f"at most {self._max_per_user} devices per user: remove one (DELETE /api/devices/{{id}})",
                )
            ids.add(device.id)
        self._online[(user, device.id)] = (device.kind, device.app)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_online(), name="device-online")

    async def _device_ids(self, user_id: int) -> set[str]:
        return set(await self._ids.get(user_id) or ())

    async def _read_ids(self, users: list[int]) -> dict[int, set[str]]:
        """The device ids of these users, in one query (a storm's hellos read them together)."""
        found: dict[int, set[str]] = {}
        async with self._db.read_connection() as conn:
            for user_id, device_id in await conn.execute(_DEVICE_IDS, {"users": users}):
                found.setdefault(user_id, set()).add(device_id)
        return found

    async def _write_online(self) -> None:
        try:
            while self._online:
                async with self._lock:
                    await self._flush_online()
        except Exception:
            log.exception("device registration failed; the next hello or touch writes it again")
            self._online.clear()
        finally:
            self._writer = None

    async def _flush_online(self) -> None:
        """Upserts every pending online mark in one transaction; the caller holds the lock."""
        if not self._online:
            return
        batch, self._online = self._online, {}
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {"user_id": u, "device_id": d, "kind": kind, "app": app, "online": True, "last_seen": now,
             "seen_via": "socket", "created_at": now}
            for (u, d), (kind, app) in batch.items()
        ]  # fmt: skip
        async with self._db.engine.begin() as conn:
            # One Core statement, the rows as its parameters (executemany): compiled once, whatever the batch size.
            await conn.execute(self._upsert, rows)

    async def seen(self, devices: list[tuple[int, str]]) -> None:
        now = utcnow()
        async with self._lock:
            await self._flush_online()
            async with self._db.session() as session:
                for user_id, device_id in devices:
                    await session.exec(
                        update(Device)
                        .where(col(Device.user_id) == user_id, col(Device.device_id) == device_id)
                        .values(last_seen=now, online=True, seen_via="socket")
                    )
                await session.commit()

    async def disconnected(self, devices: list[tuple[int, str]]) -> None:
        """The pending online marks first, then one UPDATE per chunk for the whole batch (a drain closes thousands
        of sockets at once). Guests are not in the batch: ``connected`` never writes a row for one."""
        now = utcnow()
        async with self._lock:
            await self._flush_online()
            async with self._db.session() as session:
                for start in range(0, len(devices), _CHUNK):
                    chunk = devices[start : start + _CHUNK]
                    await session.exec(
                        update(Device)
                        .where(tuple_(col(Device.user_id), col(Device.device_id)).in_(chunk))
                        .values(last_seen=now, online=False)
                    )
                await session.commit()


_check: type[DeviceTracker] = DbDevices  # mypy: it is the hub's DeviceTracker


_DEVICE_IDS = select(Device.user_id, Device.device_id).where(
    col(Device.user_id).in_(bindparam("users", expanding=True))
)
