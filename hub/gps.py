"""Driver GPS ingest: validate order and rate, remember, fan out the newest position (protocol.md §2.2 ``gps``).

Runs inline on the frame callback, with no await: a ping costs a dict lookup, a token
bucket, one JSON encode and two fire-and-forget conflated publications; no database
write. The per-driver state (bucket, last accepted ``ts``) lives on this node, where
the driver's socket is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from hub.auth import Principal
from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.positions.base import DriverPosition, PositionStore
from hub.protocol.commands import Gps

if TYPE_CHECKING:
    from hub.connection import Connection
    from hub.hub import Hub

__all__ = ["GpsIngestor", "GpsStats", "driver_topic"]

FLEET_TOPIC = "gps:fleet"
EVENT = "gps.position"


def driver_topic(driver_id: int) -> str:
    return f"gps:driver:{driver_id}"


@dataclass(slots=True)
class GpsStats:
    """Plain counters on the hot path, folded into Prometheus once a second."""

    accepted: int = 0
    rate_dropped: int = 0
    stale_dropped: int = 0


class _Driver:
    __slots__ = ("last_error", "last_ts", "stamp", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now
        self.last_ts = float("-inf")
        self.last_error = float("-inf")


class GpsIngestor:
    """``GpsIngest`` of the hub: one token bucket and one ``ts`` watermark per driver.

    A ``gps`` frame (one ping, or an offline batch) costs one token: a phone that
    reconnects and uploads 100 buffered pings is not punished for having been offline.
    """

    def __init__(
        self,
        hub: Hub,
        store: PositionStore,
        *,
        per_s: float,
        may_send: Callable[[Principal], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.store = store
        self.per_s = per_s
        self.burst = max(1.0, per_s)
        self.may_send = may_send
        self.clock = clock
        self.stats = GpsStats()
        self._drivers: dict[int, _Driver] = {}

    def ingest(self, conn: Connection, command: Gps) -> None:
        principal = conn.principal
        assert principal is not None
        if not self.may_send(principal):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only drivers stream GPS positions", command.id)
        driver_id = principal.user_id
        now = self.clock()
        state = self._drivers.get(driver_id)
        if state is None:
            state = self._drivers[driver_id] = _Driver(self.burst, now)
        state.tokens = min(self.burst, state.tokens + (now - state.stamp) * self.per_s)
        state.stamp = now
        if state.tokens < 1.0:
            self.stats.rate_dropped += len(command.pings)
            # A frame with an id is always told it was dropped (an ``ack`` means stored); frames without
            # one get at most one notice a second per driver, so a flood is not answered frame by frame.
            if command.id is not None or now - state.last_error >= 1.0:
                state.last_error = now
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED, f"over {self.per_s:g} GPS frames per second: ping dropped", command.id
                )
            return
        state.tokens -= 1.0
        accepted: list[DriverPosition] = []
        watermark = state.last_ts
        for ping in command.pings:
            if ping.ts <= watermark:  # older than what we already have: ignored (and counted)
                self.stats.stale_dropped += 1
                continue
            watermark = ping.ts
            accepted.append(
                DriverPosition(driver_id, ping.lat, ping.lon, ping.ts, ping.accuracy, ping.speed, ping.heading)
            )
        if not accepted:
            return
        state.last_ts = watermark
        self.stats.accepted += len(accepted)
        self.store.record(accepted)
        payload = orjson.dumps(accepted[-1].as_dict())
        key = str(driver_id)
        hub, ts = self.hub, time.time()
        if hub.broker.single_node:  # with a shared broker, nodes derive gps:driver:{id} from gps:fleet themselves
            hub.publish_volatile(driver_topic(driver_id), EVENT, payload, ts=ts, key=key)
        hub.publish_volatile(FLEET_TOPIC, EVENT, payload, ts=ts, key=key)

    def forget_idle(self, older_than_s: float) -> None:
        """Drop rate state of drivers silent for a while (bounded memory across a long day)."""
        horizon = self.clock() - older_than_s
        for driver in [d for d, s in self._drivers.items() if s.stamp < horizon]:
            del self._drivers[driver]

    def flush_metrics(self) -> None:
        stats, metrics = self.stats, self.hub.metrics
        if stats.accepted:
            metrics.gps_positions.inc(stats.accepted)
        if stats.rate_dropped:
            metrics.dropped_frames.labels("gps_rate").inc(stats.rate_dropped)
        if stats.stale_dropped:
            metrics.dropped_frames.labels("gps_stale").inc(stats.stale_dropped)
        stats.accepted = stats.rate_dropped = stats.stale_dropped = 0

    async def snapshot(self, topic: str) -> list[tuple[str, str, bytes]]:
        """(key, event, data) a new subscriber of ``topic`` starts from: every live driver, or the one driver."""
        if topic == FLEET_TOPIC:
            positions = await self.store.latest()
        elif topic.startswith("gps:driver:"):
            position = await self.store.current(int(topic.rsplit(":", 1)[1]))
            positions = [position] if position is not None else []
        else:
            return []
        return [(str(p.driver_id), EVENT, orjson.dumps(p.as_dict())) for p in positions]
