"""What the soak reads every minute, and the capacity it halves.

:class:`Probe` takes one row: each hub process's RSS (/proc/PID/status VmRSS), its open connections
(``hub_connections`` on its /metrics) and CPU over the window (:class:`bench.nodemeter.NodesMeter`, which also
says how busy the rest of the machine was), the hubs' disconnects by close code and error frames by code since
the soak began (their /metrics counters, summed over the nodes), the orders' account so far
(:mod:`bench.soakload`), and what the drivers and dashboards got. :func:`city_capacity` reads the highest order
rate the city's capacity search held from docs/benchmarks.md, the page ``make bench`` generates.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bench import docs_merge
from bench.measure import fmt, percentiles
from bench.nodemeter import NodesMeter
from bench.pool import WorkerHandle
from bench.procs import http_request, rss_kb
from bench.targets import Target

__all__ = ["FALLBACK_CAPACITY", "OVERDUE_S", "Probe", "city_capacity", "hub_metrics"]

FALLBACK_CAPACITY = 75.0  # orders/s the city held on 2026-11-22 (commit 00324a7), one process and two alike
OVERDUE_S = 5.0  # a receipt still missing this long after its order's 201 is "overdue" in a row
_LABELS = re.compile(r'(\w+)="([^"]*)"')
_FAMILIES = ("hub_connections", "hub_disconnects_total", "hub_errors_total", "hub_dropped_frames_total")


def city_capacity(page: Path) -> dict[str, Any]:
    """The lowest "max orders/s held" of the city's capacity table (over its cases), and where it came from."""
    try:
        previous = docs_merge.parse(page.read_text())
    except OSError:
        previous = docs_merge.parse("")
    lines = previous.sections.get("city", [])
    start = next((k for k, line in enumerate(lines) if line.startswith("Capacity:")), None)
    header, rows = docs_merge.table(lines[start:] if start is not None else [])
    column = header.index("max orders/s held") if "max orders/s held" in header else None
    held = []
    for row in rows:
        try:
            held.append(float(row[column].replace(",", "")) if column is not None else float("nan"))
        except (ValueError, IndexError):
            continue
    held = [h for h in held if h > 0]
    if not held:
        return {"orders_per_s": FALLBACK_CAPACITY, "source": f"{FALLBACK_CAPACITY:g} orders/s, the bench's constant "
                "(no city capacity table in docs/benchmarks.md)"}  # fmt: skip
    return {"orders_per_s": min(held), "source": f"{min(held):g} orders/s held, docs/benchmarks.md city section, "
            f"{previous.origin}"}  # fmt: skip


async def hub_metrics(port: int) -> dict[str, float]:
    """The counters and gauges the soak follows, from one hub's /metrics, keyed ``family{labels}``."""
    status, raw = await http_request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"hub on port {port}: /metrics answered {status}")
    out: dict[str, float] = {}
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith(_FAMILIES):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def _by(metrics: dict[str, float], family: str, *labels: str) -> dict[str, float]:
    """``family``'s series summed by ``labels`` (joined by a space), zeros left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith(family + "{") and value:
            named = dict(_LABELS.findall(key))
            name = " ".join(named.get(label, "?") for label in labels)
            out[name] = out.get(name, 0.0) + value
    return out


class Probe:
    """The hubs and the three client processes of a soak, read one row at a time."""

    def __init__(self, hubs: list[Target], workers: list[WorkerHandle], database: str, redis_port: int | None):
        self.hubs = hubs
        self.load, self.drivers, self.dash = workers
        self.database, self.redis_port = database, redis_port
        self.every = 0
        self.base: dict[str, float] = {}
        self.dash_closed: dict[str, int] = {}
        self.meter = self._meter()

    def _meter(self) -> NodesMeter:
        clients = [self.load.pid, self.drivers.pid, self.dash.pid]
        return NodesMeter([h.pid for h in self.hubs], clients, self.database, self.redis_port)

    async def _totals(self) -> tuple[list[dict[str, float]], dict[str, float]]:
        per_node = [await hub_metrics(h.port) for h in self.hubs]
        total: dict[str, float] = {}
        for metrics in per_node:
            for key, value in metrics.items():
                total[key] = total.get(key, 0.0) + value
        return per_node, total

    async def begin(self, every: int) -> None:
        """The soak starts now: counters from here, dashboards decode one frame in ``every``."""
        self.every = every
        await self.dash.call("reset", every=every)
        _, self.base = await self._totals()
        self.meter = self._meter()

    async def row(
        self, elapsed: float, sent: dict[str, Any] | None, dashboards: int, final: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One row: ``sent`` is the drivers' reply for the window just ended, ``final`` the orders' account."""
        cpu, self.meter = self.meter.stop(), self._meter()
        per_node, total = await self._totals()
        delta = {k: v - self.base.get(k, 0.0) for k, v in total.items()}
        hubs = [
            {"node": h.name, "pid": h.pid, "rss_kib": rss_kb(h.pid),
             "connections": round(sum(_by(m, "hub_connections", "kind").values())), "cpu_pct": c}
            for h, m, c in zip(self.hubs, per_node, cpu["hub_cpu_pct"], strict=True)
        ]  # fmt: skip
        if final is not None:
            orders: dict[str, Any] | None = final
        elif sent is not None:
            orders = await self.load.call("snapshot", overdue_s=OVERDUE_S)
        else:
            orders = None
        stats = await self.dash.call("stats", samples=True)
        await self.dash.call("reset", every=self.every)
        for code, n in stats["closed"].items():
            self.dash_closed[code] = self.dash_closed.get(code, 0) + n
        expected = (sent or {}).get("sent", 0) * dashboards
        return {
            "elapsed_s": round(elapsed, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "hubs": hubs,
            "cpu": cpu,
            "hub_disconnects": _by(delta, "hub_disconnects_total", "code", "by"),
            "hub_errors": _by(delta, "hub_errors_total", "code"),
            "hub_dropped": _by(delta, "hub_dropped_frames_total", "reason"),
            "orders": orders,
            "pings": None if sent is None else {
                k: sent[k] for k in ("sent", "sent_per_s", "max_behind_ms", "drivers", "alive", "error_frames",
                                     "error_samples", "closed")
            },
            "dashboards": {
                "got": stats["total"], "expected": expected,
                "got_share": round(stats["total"] / expected, 4) if expected else None,
                "live": stats["live"], "closed": dict(self.dash_closed), "non_position_frames": stats["sample_errors"],
                "latency_ms": percentiles(stats["samples"]),
            },
        }  # fmt: skip

    def say(self, row: dict[str, Any]) -> str:
        """A progress line."""
        rss = " + ".join(f"{h['rss_kib'] / 1024:.1f}" for h in row["hubs"])
        conns = " + ".join(str(h["connections"]) for h in row["hubs"])
        text = f"RSS {rss} MiB, connections {conns}, hub CPU {row['cpu']['hub_cpu_pct']}%"
        o = row["orders"]
        if o is not None:
            text += (
                f"; {fmt(o['acknowledged'])} orders acknowledged, {fmt(o['receipts'])}/{fmt(o['expected_receipts'])}"
                f" receipts, in flight {o['in_flight']}, overdue {o['overdue']}, lost {o.get('lost', '–')}, "
                f"dup {o['duplicates']}, "
                f"errors {o['n_errors']}, order→tablet p99 {fmt(o['tablet_ms'].get('p99'), None)} ms"
            )
        if row["hub_disconnects"] or row["hub_errors"]:
            text += f"; hub disconnects {row['hub_disconnects']}, error frames {row['hub_errors']}"
        if row["cpu"]["seconds"] >= 1:
            text += f"; machine {row['cpu']['machine_busy_pct']}% of {row['cpu']['cores'] * 100}"
        return text
