"""Positions in Redis: every hub node sees every driver, whichever node holds the driver's socket.

- ``record`` runs on the GPS ingest path, so it only queues: one task per loop iteration
  writes everything queued in one non-transactional pipeline, one script call per driver.
  While Redis is down the batch is dropped and counted (``dropped``): positions are
  superseded within seconds, and the ingest must never wait on the network.
- The script keeps ``latest`` monotonic per driver (an older ``ts`` never replaces a newer
  one, even from another node) and updates the GEO set, the JSON hash and the ``ts``
  sorted set together, so the three never disagree. Trails are capped lists.
- Reads wait for the queued writes first (read-your-writes), drop what is older than the
  TTL by the injected clock, and prune expired drivers lazily with one atomic script.
  ``nearby`` asks GEOSEARCH for candidates, then measures with ``distance_m`` on the
  exact stored coordinates, so both stores answer alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.gps.positions.base import DriverPosition, PositionStore, distance_m
from hub.broker.base import BrokerUnavailable

__all__ = ["RedisPositions"]

log = logging.getLogger("hub.positions.redis")

GEO_MAX_LAT = 85.05112878  # Redis GEO cannot index beyond; the exact position stays in the hash
MAX_QUEUED = 100_000  # positions waiting for a flush; beyond, Redis is too slow and we shed load
PRUNE_BATCH = 1000

# KEYS: geo, latest hash, ts zset, trail list. ARGV: driver, ts, lon, lat, json, trail_max, ttl, points...
_WRITE = """
local ttl = ARGV[7]
local old = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not old or tonumber(old) <= tonumber(ARGV[2]) then
  redis.call('GEOADD', KEYS[1], ARGV[3], ARGV[4], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
if #ARGV > 7 then
  for i = 8, #ARGV, 500 do
    redis.call('RPUSH', KEYS[4], unpack(ARGV, i, math.min(i + 499, #ARGV)))
  end
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[6]), -1)
  redis.call('EXPIRE', KEYS[4], ttl)
end
return 0
"""

# KEYS: geo, latest hash, ts zset. ARGV: horizon, batch. Drops drivers whose newest ts is older than the horizon.
_PRUNE = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
return #gone
"""

_Pending = tuple[DriverPosition, list[bytes]]  # newest candidate for ``latest``, encoded trail points


class RedisPositions:
    """``PositionStore`` shared by all nodes through the process's one Redis pool."""

    shared = True

    def __init__(
        self,
        redis: Redis,
        *,
        ttl_s: float = 900.0,
        trail_max: int = 2000,
        namespace: str = "fx",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        self.trail_max = trail_max
        self._redis = redis
        self._clock = clock
        self._expire = max(1, int(ttl_s) + 60)  # keys outlive their newest position by a minute
        prefix = f"{namespace}:gps"
        self._geo, self._latest, self._ts = f"{prefix}:geo", f"{prefix}:latest", f"{prefix}:ts"
        self._trail_prefix = f"{prefix}:trail:"
        self._write = redis.register_script(_WRITE)
        self._prune = redis.register_script(_PRUNE)
        self._queue: list[Sequence[DriverPosition]] = []
        self._queued = 0
        self._flush: asyncio.Task[None] | None = None
        self._recorded = self._written = 0  # record() calls queued / written (or dropped): readers wait on these
        self._progress = asyncio.Event()  # set, then replaced, after every batch
        self.dropped = 0

    def _trail(self, driver_id: int) -> str:
        return f"{self._trail_prefix}{driver_id}"

    # ---- writes ----

    def record(self, positions: Sequence[DriverPosition]) -> None:
        if not positions:
            return
        if self._queued >= MAX_QUEUED:
            self.dropped += len(positions)
            return
        self._queue.append(positions)
        self._queued += len(positions)
        self._recorded += 1
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._flush_queue(), name="redis-positions-flush")

    async def _flush_queue(self) -> None:
        try:
            while self._queue:
                batch, self._queue, count, self._queued = self._queue, [], self._queued, 0
                taken = self._recorded
                try:
                    await self._write_batch(batch)
                except (RedisError, OSError) as exc:
                    if not self.dropped:
                        log.warning("redis unreachable (%s): positions dropped until it answers", exc)
                    self.dropped += count
                except Exception:  # a background task: never let it die silently
                    log.exception("writing positions failed")
                    self.dropped += count
                self._advance(taken)
        finally:  # normally a no-op; when cancelled (close), what is left is dropped and nobody waits for it
            self.dropped += self._queued
            self._queue, self._queued = [], 0
            self._advance(self._recorded)
            self._flush = None

    def _advance(self, written: int) -> None:
        self._written = written
        done, self._progress = self._progress, asyncio.Event()
        done.set()

    async def _write_batch(self, batch: list[Sequence[DriverPosition]]) -> None:
        pending: dict[int, _Pending] = {}
        for positions in batch:  # coalesce per driver: one script call each
            newest = positions[-1]
            entry = pending.get(newest.driver_id)
            if entry is None:
                entry = pending[newest.driver_id] = (newest, [])
            elif newest.ts >= entry[0].ts:
                entry = pending[newest.driver_id] = (newest, entry[1])
            entry[1].extend(orjson.dumps([p.ts, p.lat, p.lon, p.accuracy, p.speed, p.heading]) for p in positions)
        async with self._redis.pipeline(transaction=False) as pipe:
            for driver, (p, points) in pending.items():
                lat = min(GEO_MAX_LAT, max(-GEO_MAX_LAT, p.lat))
                args: list[Any] = [driver, p.ts, p.lon, lat, orjson.dumps(p.as_dict()), self.trail_max, self._expire]
                args.extend(points[-self.trail_max :])
                await self._write(keys=[self._geo, self._latest, self._ts, self._trail(driver)], args=args, client=pipe)
            await pipe.execute()

    # ---- reads ----

    async def _settled(self) -> None:
        """Wait for the positions recorded before this read (not later ones: a busy ingest must not starve reads)."""
        target = self._recorded
        while self._written < target:
            await self._progress.wait()

    async def latest(self) -> list[DriverPosition]:
        await self._settled()
        horizon = self._clock() - self.ttl_s
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._prune(keys=[self._geo, self._latest, self._ts], args=[horizon, PRUNE_BATCH], client=pipe)
                pipe.hgetall(self._latest)
                _, stored = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc
        found = (_position(raw) for raw in stored.values())
        return sorted((p for p in found if p.ts >= horizon), key=lambda p: p.driver_id)

    async def current(self, driver_id: int) -> DriverPosition | None:
        await self._settled()
        try:
            raw = await self._redis.hget(self._latest, str(driver_id))
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc
        position = _position(raw) if raw is not None else None
        return position if position is not None and position.ts >= self._clock() - self.ttl_s else None

    async def nearby(self, lat: float, lon: float, radius_m: float) -> list[tuple[DriverPosition, float]]:
        await self._settled()
        horizon = self._clock() - self.ttl_s
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._prune(keys=[self._geo, self._latest, self._ts], args=[horizon, PRUNE_BATCH], client=pipe)
                pipe.geosearch(  # Redis's earth radius differs slightly: a margin, then the exact filter below
                    self._geo,
                    longitude=lon,
                    latitude=min(GEO_MAX_LAT, max(-GEO_MAX_LAT, lat)),
                    radius=max(0.0, radius_m) * 1.01 + 1,
                    unit="m",
                    sort="ASC",
                )
                _, members = await pipe.execute()
            stored = await self._redis.hmget(self._latest, members) if members else []
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc
        positions = [_position(raw) for raw in stored if raw is not None]
        found = [(p, distance_m(lat, lon, p.lat, p.lon)) for p in positions]
        return sorted(((p, d) for p, d in found if p.ts >= horizon and d <= radius_m), key=lambda pair: pair[1])

    async def trail(self, driver_id: int) -> list[DriverPosition]:
        await self._settled()
        try:
            points = await self._redis.lrange(self._trail(driver_id), 0, -1)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc
        horizon = self._clock() - self.ttl_s
        decoded = sorted((p for p in map(orjson.loads, points) if p[0] >= horizon), key=lambda p: p[0])
        return [DriverPosition(driver_id, lat, lon, ts, acc, spd, hdg) for ts, lat, lon, acc, spd, hdg in decoded]

    async def close(self) -> None:
        """Write what is queued (briefly); the Redis client belongs to the broker and stays open."""
        task = self._flush
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 2.0)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _position(raw: bytes | str) -> DriverPosition:
    d = orjson.loads(raw)
    return DriverPosition(d["driver_id"], d["lat"], d["lon"], d["ts"], d["accuracy"], d["speed"], d["heading"])


_check: type[PositionStore] = RedisPositions
