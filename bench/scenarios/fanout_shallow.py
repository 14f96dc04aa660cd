"""Fan-out with a closed-loop publisher: at most ``WINDOW`` events in flight per subscriber.

The open-loop max search lets hundreds of events queue per socket, so a server that corks them into
one write per socket looks far faster than one that writes each event alone. A kitchen rarely has a
hundred tickets in flight per tablet: this run publishes ``WINDOW`` events, then ``REFILL`` more each
time every subscriber has all but ``WINDOW - REFILL`` of them, so the figure is what one server does
with shallow batches — the deliveries/s a line of tablets sees, and the publish → receive latency.
"""

from __future__ import annotations

import time
from typing import Any

from bench.measure import percentiles, wait_server_quiet
from bench.scenarios.base import Context
from bench.targets import Target

WINDOW = 8  # at most this many events published and not yet at every subscriber
REFILL = 4  # published each time the slowest subscriber is this many events from the newest
STALL_S = 5.0  # no progress for this long: the run ends, what is missing is counted
SAMPLES_PER_EVENT = 2  # decoded latency samples per event per receiver process, about


async def shallow(target: Target, s: int, filler: dict[str, Any], ctx: Context, *, quiet_pct: float) -> dict[str, Any]:
    """One closed-loop run of ``ctx.profile.step_s`` seconds on ``s`` open subscribers."""
    pool, duration = ctx.pool, ctx.profile.step_s
    await wait_server_quiet(target.pid, below_pct=quiet_pct, timeout=30.0)
    await pool.reset(max(1, s // (SAMPLES_PER_EVENT * len(pool.receivers))))
    meter = ctx.meter(target)
    t0 = time.monotonic()
    first = await pool.burst(target, WINDOW, 0, filler)
    sent, rounds, why = first["sent"], 0, ""
    while time.monotonic() - t0 < duration:
        st = await pool.wait(sent - (WINDOW - REFILL), timeout=STALL_S)
        if st["min"] < sent - (WINDOW - REFILL) or st["live"] < s:
            why = f"stalled: slowest subscriber at {st['min']} of {sent - (WINDOW - REFILL)}, {st['live']} of {s} live"
            break
        reply = await pool.burst(target, REFILL, sent, filler)
        if not reply["alive"]:
            why = "publisher socket closed"
            break
        sent, rounds = sent + reply["sent"], rounds + 1
    t_last = time.monotonic()
    st = await pool.wait(sent, timeout=STALL_S, samples=True)
    cpu = meter.stop()
    expected = sent * s
    if not why and st["total"] < expected:
        why = f"lost {expected - st['total']} of {expected}"
    span = max(t_last, st["last_rx"]) - t0
    samples = st.pop("samples")
    return {
        "window": WINDOW,
        "published": sent,
        "delivered": st["total"],
        "expected": expected,
        "lost": max(0, expected - st["total"]),
        "events_per_s": round(sent / span, 1) if span > 0 else 0.0,
        "delivered_per_s": round(st["total"] / span, 1) if span > 0 else 0.0,
        "rounds": rounds,
        "latency_ms": percentiles(samples),
        "n_samples": len(samples),
        "cpu": cpu,
        "ok": not why,
        "why": why,
    }
