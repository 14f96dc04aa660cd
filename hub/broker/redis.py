"""Redis broker: many hub processes share topics, seq, history and live fan-out (protocol.md §3 "Multi-node").

- ``seq`` and history: one Lua script per publication increments the topic's ``seq``,
  appends to its history list (trimmed to ``HUB_HISTORY_SIZE``, expiring after
  ``HUB_HISTORY_TTL_S`` of silence) and PUBLISHes it, atomically. Every node therefore
  sees one gap-free order per topic, history survives a hub restart with the same
  epoch, and a new epoch appears only when the topic's keys expired (history lost).
- Live fan-out: Redis pub/sub, one channel per topic, subscribed by a node while it
  has local subscribers. Pub/sub fits because history already lives in the list: a
  message lost while a node is disconnected is a gap the node can read back.
- GPS (``publish_volatile``): queued and PUBLISHed in one pipeline per loop iteration;
  dropped and counted while Redis is down (positions are superseded within seconds).

One connection pool per process, plus one pub/sub connection; never one per websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from hub.broker.base import Broker, BrokerEventHandler, BrokerUnavailable
from hub.broker.redis_scripts import PUBLISH, READ, entry_of
from hub.history import HistoryResult, Publication, new_epoch
from hub.protocol.commands import Position

__all__ = ["RedisBroker", "redis_client"]

log = logging.getLogger("hub.broker.redis")


class RedisBroker:
    single_node = False

    def __init__(
        self,
        redis: Redis,
        *,
        history_size: int,
        history_ttl_s: float,
        namespace: str = "fx",
        retry_s: float = 0.5,
        owns_client: bool = False,
    ) -> None:
        self._redis = redis
        self._owns_client = owns_client
        self._size = history_size
        self._ttl_s = history_ttl_s
        self._ttl = max(1, int(history_ttl_s) + 60)  # keys outlive their newest entry by a minute
        self._ns = self.namespace = namespace
        self._retry_s = retry_s
        self._publish = self._redis.register_script(PUBLISH)
        self._read = self._redis.register_script(READ)
        self._handler: BrokerEventHandler | None = None
        self._topics: set[str] = set()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._volatile: list[tuple[str, bytes]] = []
        self._flushing = False
        self._on_reconnect: Callable[[], None] | None = None
        self.dropped_volatile = 0
        self.reconnects = 0
        self.up = True

    @classmethod
    def from_url(cls, url: str, *, history_size: int, history_ttl_s: float, namespace: str = "fx") -> RedisBroker:
        """A broker with a client of its own (closed with it)."""
        return cls(
            redis_client(url),
            history_size=history_size,
            history_ttl_s=history_ttl_s,
            namespace=namespace,
            owns_client=True,
        )

    @property
    def redis(self) -> Redis:
        """The process's one connection pool: presence and positions share it."""
        return self._redis

    # ---- keys ----

    def _meta(self, topic: str) -> str:
        return f"{self._ns}:m:{topic}"

    def _history(self, topic: str) -> str:
        return f"{self._ns}:h:{topic}"

    def _channel(self, topic: str) -> str:
        return f"{self._ns}:c:{topic}"

    # ---- Broker ----

    async def start(self, handler: BrokerEventHandler, on_reconnect: Callable[[], None] | None = None) -> None:
        self._handler = handler
        self._on_reconnect = on_reconnect
        self._pubsub = self._redis.pubsub()
        if self._topics:
            with contextlib.suppress(RedisError, OSError):  # else the reader resubscribes once Redis answers
                await self._pubsub.subscribe(*(self._channel(t) for t in self._topics))
        self._reader = asyncio.create_task(self._read_forever(), name="redis-broker-reader")

    async def publish(
        self,
        topic: str,
        event: str,
        data: bytes,
        *,
        reliable: bool,
        ts: float,
        key: str | None = None,
        guard: int | None = None,
    ) -> Publication | None:
        header = orjson.dumps([ts, event, key])
        size = self._size if reliable else 0
        try:
            seq, epoch = await self._publish(
                keys=[self._meta(topic), self._history(topic)],
                args=[new_epoch(), header, data, size, self._ttl, self._channel(topic), -1 if guard is None else guard],
            )
        except (RedisError, OSError) as exc:
            self._lost(exc)
            raise BrokerUnavailable(f"redis: {exc}") from exc
        if int(seq) < 0:
            return None
        return Publication(topic, int(seq), _text(epoch), event, data, ts, key)

    def publish_volatile(self, topic: str, event: str, data: bytes, *, ts: float, key: str) -> None:
        if not self.up:  # superseded within seconds anyway: drop rather than queue behind a dead connection
            self.dropped_volatile += 1
            return
        header = orjson.dumps([ts, event, key])
        self._volatile.append((self._channel(topic), b"\n0\n" + header + b"\n" + data))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_volatile())

    async def _flush_volatile(self) -> None:
        try:
            while self._volatile:
                batch, self._volatile = self._volatile, []
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, message in batch:
                            pipe.publish(channel, message)
                        await pipe.execute()
                except (RedisError, OSError):
                    self.dropped_volatile += len(batch)
        finally:
            self._flushing = False

    async def subscribe(self, topics: Iterable[str]) -> None:
        new = [t for t in topics if t not in self._topics]
        if not new:
            return
        if self._pubsub is None:  # not started: start() subscribes them
            self._topics.update(new)
            return
        try:
            await self._pubsub.subscribe(*(self._channel(t) for t in new))
        except (RedisError, OSError):
            pass  # the reader resubscribes every topic once Redis is back
        finally:
            self._topics.update(new)  # only now: the reader must not read a pub/sub that is not subscribed yet
            self._wake.set()

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        gone = [t for t in topics if t in self._topics]
        self._topics.difference_update(gone)
        if gone and self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.unsubscribe(*(self._channel(t) for t in gone))

    async def history(self, topic: str, after: int | None) -> HistoryResult:
        reply = await self._read_topic(topic, after=-1 if after is None else max(0, after))
        top = Position(int(reply[0]), _text(reply[1]))
        if after is None:
            return HistoryResult((), top)
        horizon = time.time() - self._ttl_s
        pubs = [p for p in (entry_of(topic, top.epoch, e) for e in reply[2:]) if p.seq > after and p.ts >= horizon]
        return HistoryResult(pubs, top)

    async def position(self, topic: str) -> Position:
        reply = await self._read_topic(topic, after=-1)
        return Position(int(reply[0]), _text(reply[1]))

    async def _read_topic(self, topic: str, *, after: int) -> list[Any]:
        try:
            reply: list[Any] = await self._read(
                keys=[self._meta(topic), self._history(topic)], args=[new_epoch(), self._ttl, after]
            )
        except (RedisError, OSError) as exc:
            self._lost(exc)
            raise BrokerUnavailable(f"redis: {exc}") from exc
        return reply

    async def ping(self) -> None:
        if not self.up:
            raise BrokerUnavailable("redis: connection lost, reconnecting")
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        self._handler = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._owns_client:
            await self._redis.aclose()

    # ---- live fan-out ----

    def _lost(self, exc: BaseException) -> None:
        if self.up:
            log.warning("redis unreachable (%s): reconnecting with backoff", exc)
        self.up = False

    async def _read_forever(self) -> None:
        delay = self._retry_s
        broken = False
        while True:
            pubsub = self._pubsub
            assert pubsub is not None
            if not self._topics:
                self._wake.clear()
                if self.up:
                    await self._wake.wait()
                    continue
                with contextlib.suppress(TimeoutError):  # down with nothing subscribed: probe with PING
                    await asyncio.wait_for(self._wake.wait(), delay)
                try:
                    await self._redis.ping()
                except (RedisError, OSError):
                    delay = min(delay * 2, 10.0)
                    continue
                log.info("redis reachable again")
                self.up, delay = True, self._retry_s
                self.reconnects += 1
                continue
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError, RuntimeError) as exc:  # RuntimeError: pub/sub not connected yet
                self._lost(exc)
                broken = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                await self._resubscribe()
                continue
            if not self.up or broken:
                # Whatever was published while the channel was down never arrived: the hub reads it back.
                log.info("redis pub/sub back: %d topics resubscribed", len(self._topics))
                self.up, broken, delay = True, False, self._retry_s
                self.reconnects += 1
                if self._on_reconnect is not None:
                    self._on_reconnect()
            if message is not None and message.get("type") == "message":
                self._deliver(_text(message["channel"]), message["data"])

    async def _resubscribe(self) -> None:
        old, self._pubsub = self._pubsub, self._redis.pubsub()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.subscribe(*(self._channel(t) for t in self._topics))

    def _deliver(self, channel: str, payload: bytes) -> None:
        prefix = f"{self._ns}:c:"
        if self._handler is None or not channel.startswith(prefix):
            return
        epoch, _, entry = payload.partition(b"\n")
        self._handler(entry_of(channel[len(prefix) :], epoch.decode(), entry))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_client(url: str) -> Redis:
    """The process's one Redis connection pool, with timeouts that turn an outage into errors, not hangs."""
    return Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)


_check: type[Broker] = RedisBroker
