"""Login throttling: failed attempts per username and per client address in a sliding window.

``MemoryLoginThrottle`` counts one process's attempts; ``RedisLoginThrottle`` counts every node's,
so a guesser spreading attempts over a load balancer meets the same limit (issue 6).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["LoginThrottle", "MemoryLoginThrottle", "RedisLoginThrottle"]

log = logging.getLogger("app.throttle")


class LoginThrottle(Protocol):
    async def retry_after(self, username: str, address: str) -> float | None:
        """Seconds to wait when either the username or the address is over its limit, else None."""
        ...

    async def failed(self, username: str, address: str) -> None: ...

    async def succeeded(self, username: str) -> None: ...


def _keys(username: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("user", username.lower()), ("addr", address)


class MemoryLoginThrottle:
    def __init__(self, *, per_user: int, per_address: int, window_s: float) -> None:
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self._window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    async def retry_after(self, username: str, address: str) -> float | None:
        now = time.monotonic()
        waits = []
        for key in _keys(username, address):
            stamps = self._recent(key, now)
            if len(stamps) >= self._limits[key[0]]:
                waits.append(stamps[0] + self._window - now)
        return max(waits) if waits else None

    async def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key in _keys(username, address):
            self._failures.setdefault(key, deque()).append(now)

    async def succeeded(self, username: str) -> None:
        self._failures.pop(("user", username.lower()), None)


class RedisLoginThrottle:
    """A sorted set of failure times per username and per address, trimmed to the window on each check.

    If Redis cannot be reached the check lets the login through (and logs): staff must be able to
    log in during a Redis outage; passwords are still verified.
    """

    def __init__(
        self, redis: Redis, *, per_user: int, per_address: int, window_s: float, namespace: str = "fx"
    ) -> None:
        self._redis = redis
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_s
        self._ns = namespace

    def _key(self, key: tuple[str, str]) -> str:
        return f"{self._ns}:login:{key[0]}:{key[1]}"

    async def retry_after(self, username: str, address: str) -> float | None:
        now = time.time()
        keys = _keys(username, address)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zremrangebyscore(self._key(key), "-inf", now - self._window)
                    pipe.zcard(self._key(key))
                    pipe.zrange(self._key(key), 0, 0, withscores=True)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s): not enforced", exc)
            return None
        waits = []
        for i, key in enumerate(keys):
            count, oldest = replies[3 * i + 1], replies[3 * i + 2]
            if count >= self._limits[key[0]] and oldest:
                waits.append(float(oldest[0][1]) + self._window - now)
        return max(waits) if waits else None

    async def failed(self, username: str, address: str) -> None:
        now = time.time()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in _keys(username, address):
                    pipe.zadd(self._key(key), {f"{now}:{secrets.token_hex(4)}": now})
                    pipe.expire(self._key(key), int(self._window) + 1)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s): failure not counted", exc)

    async def succeeded(self, username: str) -> None:
        try:
            await self._redis.delete(self._key(("user", username.lower())))
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s)", exc)


_checks: tuple[type[LoginThrottle], type[LoginThrottle]] = (MemoryLoginThrottle, RedisLoginThrottle)
