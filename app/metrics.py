"""HTTP instruments and the metrics registry decision (single process or prometheus multiprocess mode)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

__all__ = ["HttpMetrics", "MetricsExporter", "OutboxMetrics", "multiprocess_enabled"]


def multiprocess_enabled() -> bool:
    """Several workers write to PROMETHEUS_MULTIPROC_DIR (set by ``python -m app serve`` when WORKERS > 1)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests", "HTTP requests by route template", ["method", "route", "status"], registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by route template",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )


class OutboxMetrics:
    """The outbox backlog as every node's relay last saw it (one shared table: workers report the max)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge(
            "hub_outbox_pending",
            "Committed events not yet published (the broker was down, or a node died between commit and publish)",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.oldest = Gauge(
            "hub_outbox_oldest_seconds",
            "Age of the oldest committed event not yet published (0: none)",
            multiprocess_mode="livemax",
            registry=registry,
        )


class MetricsExporter:
    """Renders ``/metrics``: this registry, or the merged files of every worker in multiprocess mode."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def render(self) -> bytes:
        if multiprocess_enabled():
            merged = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self._registry)
