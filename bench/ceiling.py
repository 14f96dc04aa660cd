"""The client's own ceiling: the lean receivers against ``bench/peers/trivial.py``.

No figure of the run can exceed this; a fan-out figure near it is the client's, not the server's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.peers.trivial import FRAME
from bench.scenarios.base import Context
from bench.targets import Targets

__all__ = ["measure_ceiling"]

_CONNECTIONS_PER_RECEIVER = 16


async def measure_ceiling(targets: Targets, ctx: Context) -> dict[str, Any]:
    pool = ctx.pool
    async with targets.running("trivial") as flooder:
        n = _CONNECTIONS_PER_RECEIVER * len(pool.receivers)
        opened = await pool.open_subscribers(flooder, n)
        if opened["failed"]:
            raise RuntimeError(f"trivial server: {opened['failed']} sockets failed: {opened['errors']}")
        await pool.poke()  # now the flood starts, on every socket at once
        await pool.reset()
        first = await pool.stats()
        meter = ctx.meter(flooder)
        await asyncio.sleep(ctx.profile.ceiling_s)  # the measuring window
        cpu = meter.stop()
        st = await pool.stats()
        await pool.close_all()
    wall = max(1e-6, st["now"] - first["now"])  # the receivers' own clock: command round trips excluded
    rate = (st["total"] - first["total"]) / wall
    receivers = len(pool.receivers)
    receiver_cpu = cpu["client_cpu_pct"][:receivers]
    result = {
        "frames_per_s": round(rate, 1),
        "frames_per_s_per_receiver": round(rate / receivers, 1),
        "receivers": receivers,
        "connections": n,
        "frame_bytes": len(FRAME),
        "window_s": round(wall, 2),
        "receiver_cpu_pct": receiver_cpu,
        "server_cpu_pct": cpu["server_cpu_pct"],
        # Below ~90% of a core the receivers were waiting: the flooder, not the client, was the limit.
        "limited_by": "client" if min(receiver_cpu, default=0) >= 90 else "trivial server (ceiling is higher)",
        "closed": st["closed"],
    }
    ctx.say(
        f"client ceiling: {rate:,.0f} frames/s ({receivers} receiver process(es), {len(FRAME)}-byte frames, "
        f"receiver CPU {receiver_cpu}%, limited by {result['limited_by']})"
    )
    return result
