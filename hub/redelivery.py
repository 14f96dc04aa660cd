"""Committed events whose publication failed: kept in order and published once the broker answers again.

protocol.md §3 and issue 6: a change the application already committed must never be silently
lost because the broker went away between the commit and the publish. Routes refuse writes
while the broker is known to be down (503 before anything is written); this queue covers the
window in between. It lives in process memory: if the process dies before the broker comes
back, the events are gone, but the data is committed and clients see it on their next snapshot
(docs/deployment.md, "What happens when…").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hub.broker.base import BrokerUnavailable
from hub.tasks import TaskSet

__all__ = ["Redelivery"]

log = logging.getLogger("hub.redelivery")

Publish = Callable[[str, str, Any], Awaitable[object]]

_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class Redelivery:
    def __init__(self, publish: Publish, tasks: TaskSet, *, wait_s: float = 5.0) -> None:
        self._publish = publish
        self._tasks = tasks
        self._wait_s = wait_s
        self._queue: deque[tuple[str, str, Any]] = deque()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def publish_all(self, events: Sequence[tuple[str, str, Any]]) -> int:
        """Publish in order; returns how many had to be queued (0: all published before returning).

        Behind a non-empty queue, waits for it to drain first (order per topic); if it does not
        drain within ``wait_s``, or the broker fails now, the rest joins the queue.
        """
        if self._queue:
            try:
                await asyncio.wait_for(self._empty.wait(), self._wait_s)
            except TimeoutError:
                return self._enqueue(events)
        for i, (topic, event, data) in enumerate(events):
            if self._queue:  # another request's failure queued something meanwhile: stay behind it
                return self._enqueue(events[i:])
            try:
                await self._publish(topic, event, data)
            except BrokerUnavailable:
                return self._enqueue(events[i:])
        return 0

    def _enqueue(self, events: Sequence[tuple[str, str, Any]]) -> int:
        start = not self._queue
        self._queue.extend(events)
        self._empty.clear()
        log.warning("broker unavailable: %d committed events queued for delivery (%d waiting)", len(events), len(self))
        if start:
            self._tasks.spawn(self._drain(), name="redelivery")
        return len(events)

    async def _drain(self) -> None:
        attempt = 0
        while self._queue:
            topic, event, data = self._queue[0]
            try:
                await self._publish(topic, event, data)
            except BrokerUnavailable:
                await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
                attempt += 1
                continue
            except Exception:  # not the broker's fault (e.g. an unknown topic): never block the queue on it
                log.exception("dropping undeliverable event %s on %s", event, topic)
            self._queue.popleft()
            attempt = 0
        self._empty.set()
        log.info("queued events delivered: broker back")
