"""Small measuring helpers: CPU use of the server and of the clients over a window, percentiles, tables.

A figure is flagged client-bound when any client process used ≥ 90% of a core, or the
client processes together ≥ 90% of the client CPUs: then the number may be the client's
limit rather than the server's. It is flagged noisy when, meanwhile, other processes used
≥ 10% of a core, or the hypervisor stole ≥ 10% (a virtual machine's CPUs are shared):
then a stall may be the machine's, not the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import time
from collections.abc import Sequence
from typing import Any

from bench.procs import cpu_seconds

__all__ = [
    "CLIENT_BOUND",
    "NOISY_PCT",
    "CpuMeter",
    "fmt",
    "machine_seconds",
    "percentiles",
    "render_table",
    "wait_server_quiet",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
CLIENT_BOUND = 0.90
NOISY_PCT = 10.0


class CpuMeter:
    """CPU use (% of one core) of the server and of each client process between creation and :meth:`stop`."""

    def __init__(self, server_pid: int, client_pids: Sequence[int], client_cpus: int) -> None:
        self.server_pid = server_pid
        self.client_pids = list(client_pids)
        self.client_cpus = max(1, client_cpus)
        self.t0 = time.monotonic()
        self.s0 = _cpu(server_pid)
        self.c0 = [_cpu(p) for p in self.client_pids]
        self.m0 = machine_seconds()

    def stop(self) -> dict[str, Any]:
        wall = max(1e-6, time.monotonic() - self.t0)
        server = 100.0 * (_cpu(self.server_pid) - self.s0) / wall
        clients = [100.0 * (_cpu(p) - c) / wall for p, c in zip(self.client_pids, self.c0, strict=True)]
        total = sum(clients)
        bound = any(c >= 100 * CLIENT_BOUND for c in clients) or total >= 100 * CLIENT_BOUND * self.client_cpus
        busy, steal, mine = (100.0 * (b - a) / wall for a, b in zip(self.m0, machine_seconds(), strict=True))
        other = max(0.0, busy - server - total - mine)
        return {
            "seconds": round(wall, 3),
            "server_cpu_pct": round(server, 1),
            "client_cpu_pct": [round(c, 1) for c in clients],
            "client_cpu_total_pct": round(total, 1),
            "client_bound": bound,
            "other_cpu_pct": round(other, 1),
            "steal_pct": round(steal, 1),
            "noisy": other >= NOISY_PCT or steal >= NOISY_PCT,
        }


def machine_seconds() -> tuple[float, float, float]:
    """(CPU time of all processes, time stolen by the hypervisor, this process's own CPU time) in seconds."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    me = resource.getrusage(resource.RUSAGE_SELF)
    return sum(fields[:3]) / _CLK_TCK, fields[7] / _CLK_TCK, me.ru_utime + me.ru_stime


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # the process is gone: its CPU time no longer counts
        return 0.0


async def wait_server_quiet(pid: int, below_pct: float = 5.0, timeout: float = 10.0) -> float:
    """Poll until the server's CPU over 200 ms drops below ``below_pct`` (work of the last burst done)."""
    deadline = time.monotonic() + timeout
    pct = 100.0
    while time.monotonic() < deadline:
        c0, t0 = _cpu(pid), time.monotonic()
        await asyncio.sleep(0.2)
        pct = 100.0 * (_cpu(pid) - c0) / (time.monotonic() - t0)
        if pct < below_pct:
            break
    return pct


def percentiles(samples: Sequence[float], points: Sequence[float] = (50, 99, 99.9)) -> dict[str, float | None]:
    """Nearest-rank percentiles in milliseconds; ``None`` without samples."""
    ordered = sorted(samples)
    out: dict[str, float | None] = {}
    for p in points:
        key = f"p{p:g}"
        if not ordered:
            out[key] = None
            continue
        rank = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        out[key] = round(ordered[rank] * 1000, 2)
    return out


def fmt(value: Any, digits: int | None = 0) -> str:
    """Human figure: thousands separated, ``–`` for missing; ``digits=None``: 3 significant decimals at most."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if digits is None:
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 else 3
        with contextlib.suppress(ValueError, OverflowError):
            return f"{value:,.{digits}f}"
    return str(value)


def p50_p99(ms: dict[str, Any] | None) -> str:
    """``p50 / p99`` of a :func:`percentiles` result, ``–`` when there is none."""
    return f"{fmt(ms.get('p50'), None)} / {fmt(ms.get('p99'), None)}" if ms else "–"


def shorten(text: str, limit: int = 60) -> str:
    """A table cell's reason, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
