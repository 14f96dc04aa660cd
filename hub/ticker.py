"""The node's once-a-second chores: fold hot-path counters into Prometheus, expire tokens, touch devices.

Counters on the hot path are plain ints (a Prometheus counter takes a lock per increment);
they are folded here each second and before each scrape. Extensions add their own folding
with :meth:`Ticker.every_second`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hub.auth import DeviceTracker
from hub.broker.base import Broker
from hub.codes import CloseCode, ErrorCode
from hub.config import HubConfig
from hub.metrics import HubMetrics, observe_many
from hub.registry import Registry
from hub.sender import SendStats

__all__ = ["Ticker"]

log = logging.getLogger("hub")


class Ticker:
    def __init__(
        self,
        *,
        config: HubConfig,
        registry: Registry,
        stats: SendStats,
        metrics: HubMetrics,
        broker: Broker,
        devices: DeviceTracker,
    ) -> None:
        self._config = config
        self._registry = registry
        self._stats = stats
        self._metrics = metrics
        self._broker = broker
        self._devices = devices
        self._extra: list[Callable[[], None]] = []
        self._seen_reconnects = self._seen_dropped = 0

    def every_second(self, chore: Callable[[], None]) -> None:
        """Run ``chore`` each second and before each scrape (it must not block)."""
        self._extra.append(chore)

    async def run(self) -> None:
        last_touch = last_expiry = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            self.flush()
            now = time.monotonic()
            if now - last_expiry >= min(5.0, self._config.heartbeat_s):
                last_expiry = now
                self._expire_tokens(time.time())
            if now - last_touch >= self._config.touch_interval_s:
                last_touch = now
                await self._touch_devices()

    def flush(self) -> None:
        stats, metrics = self._stats, self._metrics
        if stats.frames:
            metrics.frames_sent.inc(stats.frames)
            stats.frames = 0
        if stats.received:
            received, stats.received = stats.received, {}
            for label, count in received.items():
                metrics.frames_received.labels(label).inc(count)
        for chore in self._extra:
            chore()
        broker = self._broker
        metrics.broker_up.set(1 if broker.up else 0)
        if broker.reconnects > self._seen_reconnects:
            metrics.broker_reconnects.inc(broker.reconnects - self._seen_reconnects)
            self._seen_reconnects = broker.reconnects
        if broker.dropped_volatile > self._seen_dropped:
            metrics.broker_dropped.inc(broker.dropped_volatile - self._seen_dropped)
            self._seen_dropped = broker.dropped_volatile
        samples, stats.latency_samples = stats.latency_samples, []
        if samples:
            observe_many(metrics.publish_to_send, [max(0.0, sample) for sample in samples])

    def _expire_tokens(self, now: float) -> None:
        """An access token that expired without a ``refresh`` ends its connection (4401, protocol.md §2.6)."""
        for conn in list(self._registry.connections.values()):
            if conn.principal is not None and conn.principal.expires_at <= now and not conn.closing:
                conn.push_error(ErrorCode.UNAUTHORIZED, "access token expired: refresh it or log in again")
                conn.request_close(CloseCode.UNAUTHORIZED, "token expired", flush=True)

    async def _touch_devices(self) -> None:
        devices = self._registry.devices()
        if devices:
            try:
                await self._devices.seen(devices)
            except Exception:
                log.exception("device last_seen update failed")
