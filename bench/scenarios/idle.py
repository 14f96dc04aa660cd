"""Idle: N authenticated, subscribed sockets doing nothing. What does each one cost the server?

Memory: (VmRSS after − VmRSS before) / N, the "before" taken after a warm-up so one-time
allocations (first handshake, lazily imported modules) are not charged per connection.
CPU: the server's CPU time over a quiet window as long as the heartbeat interval (20 s), so every
socket is pinged once inside it: keepalive is part of what idle sockets cost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.measure import fmt, render_table, wait_server_quiet
from bench.procs import cpu_seconds_precise, rss_kb
from bench.scenarios.base import Context, Metric, Profile, Setup
from bench.targets import Target

__all__ = ["METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "idle"
METHOD = """
- Idle: (VmRSS after − VmRSS before) / N after a 20-socket warm-up; server CPU over a 20 s window (one
  heartbeat interval, so each socket is pinged once), from /proc/PID/stat (10 ms ticks) and, for resolution,
  from the per-thread /proc/PID/task/*/schedstat (ns). RLIMIT_NOFILE is raised to the hard limit everywhere.
"""  # its bullet in docs/benchmarks.md's Method section
_WARMUP_CONNECTIONS = 20


def sizes(profile: Profile) -> tuple[int, ...]:
    return profile.idle_sizes


def setup(profile: Profile) -> Setup:
    return Setup()  # every target, default settings


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is not None, "the runner starts this scenario's server"
    return {"target": target.name, "sizes": [await _one_size(target, n, ctx) for n in sizes]}


async def _one_size(target: Target, n: int, ctx: Context) -> dict[str, Any]:
    pool = ctx.pool
    await pool.close_all()
    warm = await pool.open_subscribers(target, _WARMUP_CONNECTIONS)
    if warm["failed"]:
        raise RuntimeError(f"{target.name}: warm-up sockets failed: {warm['errors']}")
    await pool.close_all()
    await wait_server_quiet(target.pid)
    before = rss_kb(target.pid)
    opened = await pool.open_subscribers(target, n)
    if opened["failed"]:
        raise RuntimeError(f"{target.name}: {opened['failed']} of {n} sockets failed: {opened['errors']}")
    ctx.say(f"  {target.name} idle N={n}: opened in {opened['seconds']:.1f}s")
    await wait_server_quiet(target.pid)
    await pool.reset()
    for _ in range(2):  # once more when other processes or the hypervisor took CPU meanwhile
        meter = ctx.meter(target)
        started, precise = time.monotonic(), cpu_seconds_precise(target.pid)
        await asyncio.sleep(ctx.profile.idle_window_s)  # the measuring window itself, not a wait for readiness
        cpu = meter.stop()
        window = time.monotonic() - started
        precise_pct = 100.0 * (cpu_seconds_precise(target.pid) - precise) / window
        if not cpu["noisy"]:
            break
    after = rss_kb(target.pid)
    st = await pool.stats()
    await pool.close_all()
    result = {
        "connections": n,
        "open_seconds": round(opened["seconds"], 2),
        "opens_per_s": round(n / opened["seconds"], 1) if opened["seconds"] else None,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_connection": round((after - before) / n, 2),
        "window_s": round(window, 2),
        "server_cpu_pct": cpu["server_cpu_pct"],  # /proc/PID/stat: 10 ms ticks
        "server_cpu_pct_precise": round(precise_pct, 3),  # /proc/PID/task/*/schedstat: nanoseconds
        "client_cpu_total_pct": cpu["client_cpu_total_pct"],
        "client_bound": cpu["client_bound"],
        "noisy": cpu["noisy"],  # other processes or the hypervisor took CPU during the window
        "other_cpu_pct": cpu["other_cpu_pct"],
        "steal_pct": cpu["steal_pct"],
        "still_open": st["live"],
        "closed": st["closed"],
    }
    ctx.say(
        f"    {result['kb_per_connection']} KB/conn, server CPU {precise_pct:.3f}% over {window:.1f}s, "
        f"{st['live']} still open"
    )
    return result


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for r in result.get("sizes", ()):
        n = r["connections"]
        out[f"idle N={n} KB/connection"] = Metric(r["kb_per_connection"], "KB", False)
        out[f"idle N={n} server CPU"] = Metric(r["server_cpu_pct_precise"], "%", False)
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, res in results.items():
        if "error" in res:
            rows.append([name, "–", "error: " + res["error"][:60], *["–"] * 8])
            continue
        for r in res["sizes"]:
            rows.append(
                [
                    name, fmt(r["connections"]), fmt(r["kb_per_connection"], 1), fmt(r["rss_before_kb"] / 1024, 1),
                    fmt(r["rss_after_kb"] / 1024, 1), fmt(r["server_cpu_pct"], 1),
                    fmt(r["server_cpu_pct_precise"], 3), fmt(r["window_s"], 1),
                    fmt(r["opens_per_s"]), fmt(r["still_open"]), fmt(r["noisy"]),
                ]
            )  # fmt: skip
    headers = [
        "target", "connections", "KB/connection", "RSS before MB", "RSS after MB", "server CPU % (stat)",
        "server CPU % (schedstat)", "window s", "opens/s", "still open", "noisy",
    ]  # fmt: skip
    return render_table(headers, rows)
