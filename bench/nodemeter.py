"""CPU use over a window of several hub nodes, the client processes, and the services they share.

:class:`bench.measure.CpuMeter` knows one server; a city runs one or two hub processes plus
PostgreSQL and Redis, which take their share of the same cores. This meter reads each hub's
and each client's CPU from /proc, and the services' as well: the PostgreSQL backends serving
the run's own database plus the server's background processes, and the ``redis-server`` of
the run's port, found by name in /proc (other databases' backends, e.g. a test run's, are
"other load" and make the window noisy).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from bench.measure import CLIENT_BOUND, NOISY_PCT, machine_seconds
from bench.procs import cpu_seconds

__all__ = ["NodesMeter", "service_pids"]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def service_pids(database: str, redis_port: int | None) -> list[int]:
    """PostgreSQL processes that are not client backends or serve ``database``; Redis on ``redis_port``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        comm = _read(f"/proc/{entry}/comm")
        if comm not in ("postgres", "redis-server"):
            continue
        cmdline = _read(f"/proc/{entry}/cmdline")
        if comm == "postgres":
            backend = "(" in cmdline or "[local]" in cmdline
            if not backend or database in cmdline.split():
                pids.append(int(entry))
        elif redis_port is not None and f":{redis_port}" in cmdline:
            pids.append(int(entry))
    return pids


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError, ValueError):  # gone meanwhile
        return 0.0


class NodesMeter:
    """CPU (% of one core) of each hub, each client process and the services, between creation and :meth:`stop`."""

    def __init__(self, hub_pids: Sequence[int], client_pids: Sequence[int], database: str, redis_port: int | None):
        self.hub_pids, self.client_pids = list(hub_pids), list(client_pids)
        self.database, self.redis_port = database, redis_port
        self.t0 = time.monotonic()
        self.h0 = [_cpu(p) for p in self.hub_pids]
        self.c0 = [_cpu(p) for p in self.client_pids]
        self.s0 = {p: _cpu(p) for p in service_pids(database, redis_port)}
        self.m0 = machine_seconds()

    def stop(self) -> dict[str, Any]:
        wall = max(1e-6, time.monotonic() - self.t0)
        hubs = [100.0 * (_cpu(p) - c) / wall for p, c in zip(self.hub_pids, self.h0, strict=True)]
        clients = [100.0 * (_cpu(p) - c) / wall for p, c in zip(self.client_pids, self.c0, strict=True)]
        # A backend that started in the window counts whole; one that ended in it is lost (a small error).
        now = {p: _cpu(p) for p in service_pids(self.database, self.redis_port)}
        services = 100.0 * sum(max(0.0, c - self.s0.get(p, 0.0)) for p, c in now.items()) / wall
        busy, steal, mine = (100.0 * (b - a) / wall for a, b in zip(self.m0, machine_seconds(), strict=True))
        other = max(0.0, busy - sum(hubs) - sum(clients) - services - mine)
        return {
            "seconds": round(wall, 3),
            "hub_cpu_pct": [round(h, 1) for h in hubs],
            "hub_cpu_total_pct": round(sum(hubs), 1),
            "client_cpu_pct": [round(c, 1) for c in clients],
            "client_cpu_total_pct": round(sum(clients) + mine, 1),  # the orchestrator is a client too
            "services_cpu_pct": round(services, 1),
            "machine_busy_pct": round(busy, 1),
            "cores": os.cpu_count(),
            "client_bound": any(c >= 100 * CLIENT_BOUND for c in clients),
            "other_cpu_pct": round(other, 1),
            "steal_pct": round(steal, 1),
            "noisy": other >= NOISY_PCT or steal >= NOISY_PCT,
        }
