"""Driver GPS ingest: validate order and rate, remember, fan out the newest position (protocol.md §2.2 ``gps``).

Runs inline on the frame callback, with no await: a ping costs a dict lookup, a token bucket,
one JSON encode and one fire-and-forget conflated publication on ``gps:fleet`` (every node
derives the driver's own ``gps:driver:{id}`` from it); no database write. The per-driver
state (bucket, last accepted ``ts``) lives on this node, where the driver's socket is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter

from app.gps.command import Gps, encode_ack
from app.gps.positions.base import DriverPosition, PositionStore
from app.gps.topics import EVENT, FLEET_TOPIC
from hub.auth import Principal
from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.metrics import HubMetrics

__all__ = ["GpsIngest", "GpsMetrics"]

VolatilePublish = Callable[[str, str, bytes, float, str], None]
"""(topic, event, payload, ts, conflation key): the hub's fire-and-forget publication."""


class GpsMetrics:
    """``hub_gps_positions_total`` (protocol.md §6), on the application's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.positions = Counter("hub_gps_positions", "GPS positions accepted", registry=registry)


@dataclass(slots=True)
class _Stats:
    """Plain counters on the hot path, folded into Prometheus once a second."""

    accepted: int = 0
    rate_dropped: int = 0
    stale_dropped: int = 0


class _Driver:
    __slots__ = ("driver_id", "key", "last_error", "last_ts", "stamp", "tokens")

    def __init__(self, driver_id: int, burst: float, now: float) -> None:
        self.driver_id = driver_id
        self.key = str(driver_id)  # the conflation key of its positions
        self.tokens = burst
        self.stamp = now
        self.last_ts = float("-inf")
        self.last_error = float("-inf")


class GpsIngest:
    """One token bucket and one ``ts`` watermark per driver.

    A ``gps`` frame (one ping, or an offline batch) costs one token: a phone that reconnects
    and uploads 100 buffered pings is not punished for having been offline.
    """

    def __init__(
        self,
        store: PositionStore,
        *,
        per_s: float,
        may_send: Callable[[Principal], bool],
        metrics: GpsMetrics,
        hub_metrics: HubMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.per_s = per_s
        self.burst = max(1.0, per_s)
        self.may_send = may_send
        self.metrics = metrics
        self.hub_metrics = hub_metrics
        self.clock = clock
        self.publish: VolatilePublish | None = None
        self.stats = _Stats()
        self._drivers: dict[int, _Driver] = {}

    def handle(self, principal: Principal, command: Gps) -> bytes | None:
        """The hub's inline handler: the ``ack`` (when the frame has an ``id`` and was stored), or None.

        Raises:
            ProtocolError: ``forbidden`` for a non-driver; ``rate_limited`` for a dropped frame.
        """
        if not self.may_send(principal):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only drivers stream GPS positions", command.id)
        driver_id = principal.user_id
        state = self._drivers.get(driver_id)
        if state is None:
            state = self._drivers[driver_id] = _Driver(driver_id, self.burst, self.clock())
        if not self._take_token(state, command):
            return None
        accepted = self._accepted(state, command)
        if accepted:
            self.stats.accepted += len(accepted)
            self.store.record(accepted)
            if self.publish is not None:
                payload = orjson.dumps(accepted[-1].as_dict())  # a dict: orjson writes it faster than the dataclass
                self.publish(FLEET_TOPIC, EVENT, payload, time.time(), state.key)
        # ``ack`` means stored, or already superseded by a newer ping (the phone must not resend it).
        return None if command.id is None else encode_ack(command.id)

    def _take_token(self, state: _Driver, command: Gps) -> bool:
        now = self.clock()
        state.tokens = min(self.burst, state.tokens + (now - state.stamp) * self.per_s)
        state.stamp = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            return True
        self.stats.rate_dropped += len(command.pings)
        # A frame with an id is always told it was dropped (an ``ack`` means stored); frames without
        # one get at most one notice a second per driver, so a flood is not answered frame by frame.
        if command.id is not None or now - state.last_error >= 1.0:
            state.last_error = now
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, f"over {self.per_s:g} GPS frames per second: ping dropped", command.id
            )
        return False

    def _accepted(self, state: _Driver, command: Gps) -> list[DriverPosition]:
        driver_id = state.driver_id
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
        state.last_ts = watermark
        return accepted

    def forget_idle(self, older_than_s: float) -> None:
        """Drop rate state of drivers silent for a while (bounded memory across a long day)."""
        horizon = self.clock() - older_than_s
        for driver in [d for d, s in self._drivers.items() if s.stamp < horizon]:
            del self._drivers[driver]

    def flush_metrics(self) -> None:
        stats = self.stats
        if stats.accepted:
            self.metrics.positions.inc(stats.accepted)
        if stats.rate_dropped:
            self.hub_metrics.dropped_frames.labels("gps_rate").inc(stats.rate_dropped)
        if stats.stale_dropped:
            self.hub_metrics.dropped_frames.labels("gps_stale").inc(stats.stale_dropped)
        stats.accepted = stats.rate_dropped = stats.stale_dropped = 0
