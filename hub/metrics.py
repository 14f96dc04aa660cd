"""The hub's Prometheus instruments, created once against an explicitly passed registry (protocol.md §6).

Labels come only from closed sets: topic family, ``ErrorCode``, ``CloseCode``, device kind.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hub.codes import CloseCode

__all__ = ["DROP_REASONS", "HubMetrics", "observe_many"]

#: Why a frame was not delivered or not accepted.
DROP_REASONS = ("slow_consumer", "conflated", "closing", "rate_limit", "gps_rate", "gps_stale")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class HubMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.connections = Gauge(
            "hub_connections", "Open authenticated connections", ["kind"], multiprocess_mode="livesum", registry=r
        )
        self.connections_opened = Counter("hub_connections_opened", "WebSocket connections accepted", registry=r)
        self.frames_received = Counter("hub_frames_received", "Frames received, by command type", ["type"], registry=r)
        self.frames_sent = Counter("hub_frames_sent", "Frames written to sockets", registry=r)
        self.events_published = Counter(
            "hub_events_published", "Events published, by topic family", ["family"], registry=r
        )
        self.publish_to_send = Histogram(
            "hub_publish_to_send_seconds",
            "From publish to the frame written to a socket (one sample per write batch)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dropped_frames = Counter("hub_dropped_frames", "Frames dropped, by reason", ["reason"], registry=r)
        self.disconnects = Counter(
            "hub_disconnects",
            "Connections closed, by close code and by who closed (server, client)",
            ["code", "by"],
            registry=r,
        )
        self.refused_handshakes = Counter(
            "hub_refused_handshakes", "WebSocket handshakes refused before accept, by reason", ["reason"], registry=r
        )
        self.overload_refusals = Counter(
            "hub_overload_refusals",
            "Work refused at once because the node is overloaded, by what (upgrade, hello, request)",
            ["what"],
            registry=r,
        )
        self.hellos_waiting = Gauge(
            "hub_hellos_waiting",
            "Hellos waiting for a slot to be authenticated (a reconnect storm's queue)",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.upgrades_waiting = Gauge(
            "hub_upgrades_waiting",
            "Upgrades waiting for their 101 while the sockets before them open (a reconnect storm's queue)",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.errors = Counter("hub_errors", "Error frames sent, by code", ["code"], registry=r)
        self.broker_up = Gauge(
            "hub_broker_up",
            "1 while the broker is reachable (live channel and commands)",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.broker_reconnects = Counter("hub_broker_reconnects", "Broker live channel re-established", registry=r)
        self.broker_dropped = Counter(
            "hub_broker_dropped", "GPS publications dropped while the broker was down", registry=r
        )
        self.stream_gaps = Counter(
            "hub_stream_gaps",
            "Reliable-topic gaps seen on the live channel, by outcome (filled from history, lost, duplicate)",
            ["outcome"],
            registry=r,
        )
        # Series of the closed label sets exist from the start, so dashboards and alerts see zeros.
        for reason in DROP_REASONS:
            self.dropped_frames.labels(reason)
        for code in CloseCode:
            self.disconnects.labels(str(int(code)), "server")
        for peer_code in ("1000", "1001", "1005", "1006"):
            self.disconnects.labels(peer_code, "client")
        self.refused_handshakes.labels("origin")
        for what in ("upgrade", "hello", "request"):
            self.overload_refusals.labels(what)
        for outcome in ("filled", "lost", "duplicate"):
            self.stream_gaps.labels(outcome)
        self.broker_up.set(1)


def observe_many(histogram: Histogram, samples: Sequence[float]) -> None:
    """Fold a second's worth of samples into ``histogram`` with one increment per bucket, not one per sample.

    At 30k fan-out flushes a second, ``observe()`` per sample held the loop for tens of ms once a
    second, which showed up as every socket's p99. Uses prometheus-client's bucket values (pinned
    in requirements.txt; a test checks the exported histogram); falls back to ``observe``.
    """
    buckets = getattr(histogram, "_buckets", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    total = getattr(histogram, "_sum", None)
    if buckets is None or bounds is None or total is None:
        for sample in samples:
            histogram.observe(sample)
        return
    counts = [0] * len(bounds)
    for sample in samples:
        counts[bisect.bisect_left(bounds, sample)] += 1  # upper bounds are inclusive (le), +Inf is last
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    total.inc(sum(samples))
