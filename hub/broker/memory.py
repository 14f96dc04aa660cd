"""In-process broker: one node, history in memory, a new epoch on every start (protocol.md §3)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from hub.broker.base import Broker, BrokerEventHandler
from hub.history import HistoryResult, Publication, Stream
from hub.protocol.commands import Position

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """Publishes by calling the handler directly, so delivery is done when ``publish`` returns."""

    single_node = True
    up = True
    reconnects = 0
    dropped_volatile = 0

    def __init__(self, *, history_size: int = 1000, history_ttl_s: float = 900.0) -> None:
        self._size = history_size
        self._ttl = history_ttl_s
        self._streams: dict[str, Stream] = {}
        self._handler: BrokerEventHandler | None = None
        self._guards: dict[str, int] = {}

    def _stream(self, topic: str) -> Stream:
        stream = self._streams.get(topic)
        if stream is None:
            stream = self._streams[topic] = Stream(size=self._size, ttl_s=self._ttl)
        return stream

    async def start(self, handler: BrokerEventHandler, on_reconnect: Callable[[], None] | None = None) -> None:
        self._handler = handler  # in-process: never disconnected, so ``on_reconnect`` is never called

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
        if guard is not None:
            if guard <= self._guards.get(topic, -1):
                return None
            self._guards[topic] = guard
        # No await between seq assignment and delivery: publications of one topic reach
        # the handler in seq order even when many coroutines publish at once.
        pub = self._stream(topic).next(topic, event, data, ts, keep=reliable, key=key)
        if self._handler is not None:
            self._handler(pub)
        return pub

    def publish_volatile(self, topic: str, event: str, data: bytes, *, ts: float, key: str) -> None:
        if self._handler is not None:
            self._handler(Publication(topic, 0, "", event, data, ts, key))

    async def subscribe(self, topics: Iterable[str]) -> None:
        return None

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        return None

    async def history(self, topic: str, after: int | None) -> HistoryResult:
        return self._stream(topic).read(after, time.time())

    async def position(self, topic: str) -> Position:
        return self._stream(topic).top

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._handler = None


_check: type[Broker] = MemoryBroker
