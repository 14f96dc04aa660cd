"""Where a process keeps what nodes must share, chosen from settings: its own memory, or one Redis.

With ``HUB_BROKER_URL=redis://…`` the broker, presence, driver positions and the login throttle
all live in that Redis and share one connection pool (one pool per process, never one connection
per socket); otherwise each is the process's own. Shift locks follow the database: Postgres
advisory locks every process shares, or one process's locks on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.db import Database
from app.gps.positions import MemoryPositions, PositionStore
from app.gps.positions.redis import RedisPositions
from app.services.serial import LocalShiftLocks, PostgresShiftLocks, ShiftLocks, StallingLocks
from app.settings import Settings
from app.throttle import LoginThrottle, MemoryLoginThrottle, ThrottleLimits
from app.throttle.redis import RedisLoginThrottle
from hub.broker import Broker, MemoryBroker
from hub.broker.redis import RedisBroker, redis_client
from hub.presence import MemoryPresence, PresenceStore
from hub.presence.redis import RedisPresence

__all__ = ["Backends", "backends", "shift_locks"]


@dataclass(slots=True)
class Backends:
    broker: Broker
    presence: PresenceStore
    positions: PositionStore
    throttle: LoginThrottle
    redis: Redis | None

    async def close(self) -> None:
        await self.presence.close()
        await self.positions.close()
        await self.broker.close()
        if self.redis is not None:
            await self.redis.aclose()


def _limits(settings: Settings) -> ThrottleLimits:
    return ThrottleLimits(
        per_pair=settings.login_max_failures_user,
        per_address=settings.login_max_failures_ip,
        window_s=settings.login_window_s,
        per_account=settings.login_max_failures_account,
        known_s=settings.login_known_address_s,
    )


def backends(settings: Settings) -> Backends:
    """Every shared store of this process, from ``HUB_BROKER_URL`` (``""`` or ``redis://``).

    Raises:
        ValueError: any other scheme, naming what is supported.
    """
    url, ns = settings.broker_url, settings.redis_namespace
    size, ttl = settings.history_size, settings.history_ttl_s
    if url in ("", "memory://"):
        return Backends(
            MemoryBroker(history_size=size, history_ttl_s=ttl),
            MemoryPresence(),
            MemoryPositions(ttl_s=settings.position_ttl_s),
            MemoryLoginThrottle(_limits(settings)),
            None,
        )
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.partition("://")[0]
        raise ValueError(f"unsupported HUB_BROKER_URL scheme {scheme!r}: use '' (in-process) or redis://host:port/db")
    redis = redis_client(url)
    presence = RedisPresence(
        redis, node_id=settings.node, ttl_s=2 * settings.heartbeat_s, namespace=ns
    )  # a dead node's members go within two heartbeats
    return Backends(
        RedisBroker(redis, history_size=size, history_ttl_s=ttl, namespace=ns),
        presence,
        RedisPositions(redis, ttl_s=settings.position_ttl_s, namespace=ns),
        RedisLoginThrottle(redis, _limits(settings), namespace=ns),
        redis,
    )


def shift_locks(db: Database, fault: str = "") -> ShiftLocks:
    """Postgres: advisory locks every process shares. SQLite: one process's own (SQLite serves one machine).

    ``fault`` ``stall-holding-lock:SECONDS`` (fault tests only) makes every holder stall that long right
    after taking its lock, as a node that hangs or is cut off while holding one would.
    """
    locks: ShiftLocks = (
        PostgresShiftLocks(db.lock_engine, db.session) if db.lock_engine is not None else LocalShiftLocks(db.session)
    )
    if fault.startswith("stall-holding-lock:"):
        locks = StallingLocks(locks, float(fault.partition(":")[2]))
    return locks
