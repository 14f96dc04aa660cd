"""Which shift locks, presence and position stores a process uses: its own, or shared with every node.

With ``HUB_BROKER_URL=redis://…`` every node must see every node's presence and drivers, so both
stores live in the same Redis and share the broker's one connection pool (issue 6: one pool per
process, never one connection per socket).
"""

from __future__ import annotations

from app.db import Database
from app.services.serial import LocalShiftLocks, PostgresShiftLocks, ShiftLocks
from app.settings import Settings
from app.throttle import LoginThrottle, MemoryLoginThrottle, ThrottleLimits
from app.throttle.redis import RedisLoginThrottle
from hub.broker.base import Broker
from hub.broker.redis import RedisBroker
from hub.positions import MemoryPositions, PositionStore
from hub.positions.redis import RedisPositions
from hub.presence import MemoryPresence, PresenceStore
from hub.presence.redis import RedisPresence

__all__ = ["login_throttle", "shared_stores", "shift_locks"]


def shared_stores(settings: Settings, broker: Broker) -> tuple[PresenceStore, PositionStore]:
    if not isinstance(broker, RedisBroker):
        return MemoryPresence(), MemoryPositions(ttl_s=settings.position_ttl_s)
    presence = RedisPresence(
        broker.redis,
        node_id=settings.node,
        ttl_s=2 * settings.heartbeat_s,  # a dead node's members go within two heartbeats (issue 6)
        namespace=settings.redis_namespace,
    )
    positions = RedisPositions(broker.redis, ttl_s=settings.position_ttl_s, namespace=settings.redis_namespace)
    return presence, positions


def shift_locks(db: Database) -> ShiftLocks:
    """Postgres: advisory locks every process shares. SQLite: one process's own (SQLite serves one machine)."""
    return PostgresShiftLocks(db.lock_engine) if db.lock_engine is not None else LocalShiftLocks()


def login_throttle(settings: Settings, broker: Broker) -> LoginThrottle:
    """Failed logins counted across every node when they share Redis, else per process."""
    limits = ThrottleLimits(
        per_pair=settings.login_max_failures_user,
        per_address=settings.login_max_failures_ip,
        window_s=settings.login_window_s,
        per_account=settings.login_max_failures_account,
        known_s=settings.login_known_address_s,
    )
    if isinstance(broker, RedisBroker):
        return RedisLoginThrottle(broker.redis, limits, namespace=settings.redis_namespace)
    return MemoryLoginThrottle(limits)
