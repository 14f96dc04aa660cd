"""Helpers of the ingest scenario: driver accounts in the hub's database copy, the hub's GPS counters, and the
driver process's own ceiling (how many pings/s it can send at all, against the sink)."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from bench.pool import WorkerHandle
from bench.procs import http_request
from bench.scenarios.base import Context
from bench.targets import Target

__all__ = [
    "CHEAP_HASH_ENV",
    "DRIVER_PASSWORD",
    "DRIVER_PREFIX",
    "add_driver_accounts",
    "cheap_password_hash",
    "counter_delta",
    "driver_ceiling",
    "hub_counters",
]

DRIVER_PREFIX = "bench-driver-"
DRIVER_PASSWORD = "password"
_CEILING_RATE = 10_000_000.0  # far above what one process can send: the loop sends as fast as it can


_CHEAP_TIME_COST, _CHEAP_MEMORY_KIB, _CHEAP_PARALLELISM = 1, 1024, 1  # argon2id at its lowest cost
CHEAP_HASH_ENV = {
    "HUB_ARGON2_TIME_COST": str(_CHEAP_TIME_COST),
    "HUB_ARGON2_MEMORY_KIB": str(_CHEAP_MEMORY_KIB),
    "HUB_ARGON2_PARALLELISM": str(_CHEAP_PARALLELISM),
}
"""Hub settings matching :func:`cheap_password_hash` (allowed outside production): without them the hub upgrades
each such hash to its own cost at the account's first login, and 2,000 logins took 45 s instead of about one."""


def cheap_password_hash(password: str = DRIVER_PASSWORD) -> str:
    """argon2id at its lowest cost (t=1, 1 MiB, p=1): about 0.4 ms per login instead of the seeded hash's 120 ms,
    on a hub running with :data:`CHEAP_HASH_ENV`. Login cost is not what the bench measures."""
    hasher = PasswordHasher(time_cost=_CHEAP_TIME_COST, memory_cost=_CHEAP_MEMORY_KIB, parallelism=_CHEAP_PARALLELISM)
    return hasher.hash(password)


def add_driver_accounts(db: Path, n: int) -> None:
    """Users ``bench-driver-1`` … ``bench-driver-{n}``, role ``driver``, in the hub's copy of the seeded database.

    The password is the seeded one, but hashed with argon2id at its lowest cost (t=1, 1 MiB, p=1): the seeded
    hash costs about 120 ms of server CPU per login, so 2,000 logins would take 4 minutes; this one about 0.4 ms.
    The hub runs with :data:`CHEAP_HASH_ENV`, or it would rehash each at its first login. Login cost is not what
    ingest measures.
    """
    hashed = cheap_password_hash()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = [(f"{DRIVER_PREFIX}{i}", hashed, now) for i in range(1, n + 1)]
    with sqlite3.connect(db) as conn:  # the hub is not running yet: nothing else has the file open
        conn.executemany(
            "INSERT INTO users (username, password_hash, role, truck_id, active, created_at) "
            "VALUES (?, ?, 'driver', NULL, 1, ?)",
            rows,
        )
    conn.close()


async def hub_counters(target: Target) -> dict[str, float]:
    """``hub_gps_positions_total`` and ``hub_dropped_frames_total{reason}`` from the hub's /metrics (protocol.md
    §6); empty for a peer, or when the hub does not expose them."""
    if target.name != "hub":
        return {}
    status, raw = await http_request(target.port, "GET", "/metrics")
    if status != 200:
        return {}
    out: dict[str, float] = {}
    for line in raw.decode(errors="replace").splitlines():
        name, _, value = line.rpartition(" ")
        if name == "hub_gps_positions_total":
            out["gps_positions"] = float(value)
        elif name.startswith('hub_dropped_frames_total{reason="'):
            out["dropped_" + name.split('"')[1]] = float(value)
        elif name.startswith('hub_errors_total{code="'):
            out["error_" + name.split('"')[1]] = float(value)
    return out


def counter_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What changed during a step (counters that did not move are left out)."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


async def driver_ceiling(ctx: Context, client: WorkerHandle, drivers: int) -> dict[str, Any]:
    """The driver process sends to ``drivers`` sockets of the sink (which reads and drops) as fast as it can,
    alone on the client CPU: no ingest figure can exceed this. Measured once per run."""
    key = f"ingest ceiling {drivers}"
    if key in ctx.cache:
        return dict(ctx.cache[key])
    async with ctx.targets.running("sink") as sink:
        opened = await client.call(
            "open", host="127.0.0.1", port=sink.port, path="/", mode="raw", n=drivers, timeout=60.0
        )
        if opened["failed"]:
            raise RuntimeError(f"sink: {opened['failed']} of {drivers} driver sockets failed: {opened['errors']}")
        meter = ctx.meter(sink, client.pid)
        sent = await client.call("send", rate=_CEILING_RATE, duration=ctx.profile.ceiling_s, mode="ws")
        cpu = meter.stop()
        await client.call("close_all")
    result = {
        "pings_per_s": sent["sent_per_s"],
        "drivers": drivers,
        "window_s": sent["seconds"],
        "driver_cpu_pct": cpu["client_cpu_pct"][-1],
        "sink_cpu_pct": cpu["server_cpu_pct"],
        "noisy": cpu["noisy"],
    }
    ctx.say(
        f"  driver ceiling: {sent['sent_per_s']:,.0f} pings/s over {drivers} sockets to the sink "
        f"(driver process CPU {result['driver_cpu_pct']}%, sink CPU {result['sink_cpu_pct']}%)"
    )
    ctx.cache[key] = result
    return dict(result)
