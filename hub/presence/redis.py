"""Presence shared by every node through Redis; a dead node's members vanish within ``ttl_s``.

Each topic is a hash ``conn_id -> member`` (the member names its node). Each node keeps a
liveness key ``node:{id}`` that expires after ``ttl_s`` (two heartbeats) and refreshes it
three times per ``ttl_s``. ``members`` drops, and lazily deletes, the entries of nodes whose
key is gone: a SIGKILLed node needs no clean-up of its own. If the node finds its key gone
while it is alive (Redis restarted empty, or the node stalled), it writes its local members
again, so presence heals without clients doing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.broker.base import BrokerUnavailable
from hub.presence.base import PresenceMember, PresenceStore

__all__ = ["RedisPresence"]

log = logging.getLogger("hub.presence.redis")

_TOPIC_IDLE_S = 24 * 3600  # a topic hash nobody joins for a day goes (its live members refresh it on join)


class RedisPresence:
    shared = True

    def __init__(self, redis: Redis, *, node_id: str, ttl_s: float, namespace: str = "fx") -> None:
        self._redis = redis
        self._node = node_id
        self._ttl_ms = max(1000, int(ttl_s * 1000))
        self._ns = namespace
        self._local: dict[str, dict[str, bytes]] = {}  # topic -> conn_id -> encoded member (this node's)
        self._task: asyncio.Task[None] | None = None

    def _topic(self, topic: str) -> str:
        return f"{self._ns}:p:{topic}"

    def _alive(self, node: str) -> str:
        return f"{self._ns}:node:{node}"

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name="presence-refresh")

    async def add(self, topic: str, member: PresenceMember) -> None:
        encoded = orjson.dumps({**member.as_frame(), "node": self._node})
        self._local.setdefault(topic, {})[member.conn_id] = encoded
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._topic(topic), member.conn_id, encoded)
                pipe.expire(self._topic(topic), _TOPIC_IDLE_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # written again by the refresher once Redis answers
            log.debug("presence add deferred: %s", exc)

    async def remove(self, topic: str, conn_id: str) -> None:
        local = self._local.get(topic)
        if local is not None:
            local.pop(conn_id, None)
            if not local:
                del self._local[topic]
        with contextlib.suppress(RedisError, OSError):  # else it goes with the topic's idle expiry
            await self._redis.hdel(self._topic(topic), conn_id)

    async def members(self, topic: str) -> list[PresenceMember]:
        try:
            raw = await self._redis.hgetall(self._topic(topic))
            entries = [(conn_id, orjson.loads(value)) for conn_id, value in raw.items()]
            nodes = sorted({entry["node"] for _, entry in entries})
            flags = await self._redis.mget([self._alive(n) for n in nodes]) if nodes else []
            alive = dict(zip(nodes, flags, strict=True))
            dead = [conn_id for conn_id, entry in entries if alive.get(entry["node"]) is None]
            if dead:
                await self._redis.hdel(self._topic(topic), *dead)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc
        members = [
            PresenceMember(e["conn_id"], e["user_id"], e["device_id"], e["kind"], e["since"])
            for _, e in entries
            if alive.get(e["node"]) is not None
        ]
        return sorted(members, key=lambda m: m.since)

    async def close(self) -> None:
        """Leave at once (a clean stop): remove this node's members and liveness key. Redis is the broker's."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.pipeline(transaction=False) as pipe:
                for topic, members in self._local.items():
                    pipe.hdel(self._topic(topic), *members)
                pipe.delete(self._alive(self._node))
                await pipe.execute()
        self._local.clear()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self._refresh()
            except (RedisError, OSError) as exc:
                log.debug("presence refresh failed: %s", exc)

    async def _refresh(self) -> None:
        previous = await self._redis.set(self._alive(self._node), b"1", px=self._ttl_ms, get=True)
        if previous is not None:
            return
        if self._local:  # our key was gone: Redis lost it (restart) or thought us dead; write everything again
            async with self._redis.pipeline(transaction=False) as pipe:
                for topic, members in self._local.items():
                    pipe.hset(self._topic(topic), mapping=members)  # type: ignore[arg-type]
                    pipe.expire(self._topic(topic), _TOPIC_IDLE_S)
                await pipe.execute()
            log.info("presence of %d topics written again", len(self._local))


_check: type[PresenceStore] = RedisPresence
