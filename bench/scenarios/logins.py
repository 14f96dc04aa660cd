"""Logins: a kitchen tablet pings every 10 ms while bursts of concurrent logins hash passwords; does its round trip
stay ≤ 5 ms (p99)?

The defect this guards against: argon2 ran on the event loop, so during 10 concurrent logins a
tablet's ping went from 1.2 ms to 416 ms. Now hashing runs in a thread pool sized from the CPU
count (:mod:`app.passwords`); this scenario measures what a burst still costs the sockets. Hub
only, with its default argon2 parameters and hashing settings, two placements: the hub pinned
to one CPU, as every other scenario, and the hub allowed on every CPU of the bench.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from app.passwords import password_hashing
from app.settings import Settings
from bench.measure import percentiles, wait_server_quiet
from bench.pool import WorkerHandle
from bench.procs import thread_schedstat
from bench.scenarios.base import Context, Profile, Setup
from bench.scenarios.logins_report import METHOD, TARGET_P99_MS, headline, line, table
from bench.targets import Target

__all__ = ["METHOD", "NAME", "TARGET_P99_MS", "add_login_users", "headline", "run", "setup", "sizes", "table"]

NAME = "logins"
USERS = 200  # bench users, rotating: more than the largest burst, so no burst has a username twice
USER_PREFIX = "bench-login-"
PASSWORD = "bench-login-password"
PING_INTERVAL_S = 0.010
GRACE_S = 1.0  # after a window: pongs later than this count as unanswered
LOGIN_TIMEOUT_S = 30.0  # the hub answers 503 after 5 s of queueing (HUB_HASH_WAIT_S); this only catches a hang
QUIET_PCT = 10.0  # between bursts: the hub's CPU over 200 ms below this (the last burst's hashing done)
SETTLE_S = 0.5  # then this long at rest before the next burst
MAX_NOISY_RETRIES = 2  # a burst during which other processes or the hypervisor took CPU is run again, twice at most
Placement = Literal["server", "all"]


def sizes(profile: Profile) -> tuple[int, ...]:
    return tuple(n for n, _ in profile.login_bursts)


def setup(profile: Profile) -> Setup:
    return Setup(targets=("hub",), own_servers=True)  # it starts the hub twice: on one CPU, then on all


def add_login_users(db: Path, *, password_hash: str, n: int) -> None:
    """Users ``bench-login-1`` … ``bench-login-{n}``, role ``staff`` of truck 1, in the hub's database copy.

    They share one hash of :data:`PASSWORD` made with the hub's default argon2id parameters: verifying it costs what
    verifying a production hash costs (the cost is the parameters', not the salt's).
    """
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = [(f"{USER_PREFIX}{i}", password_hash, now) for i in range(1, n + 1)]
    with sqlite3.connect(db) as conn:  # the hub is not running yet: nothing else has the file open
        conn.executemany(
            "INSERT INTO users (username, password_hash, role, truck_id, active, created_at) "
            "VALUES (?, ?, 'staff', 1, 1, ?)",
            rows,
        )
    conn.close()


def _default_hash() -> tuple[str, dict[str, Any]]:
    """A hash with the hub's defaults (``Settings`` with no environment), and what one verification costs here."""
    settings = Settings.from_env({})
    hashing = password_hashing(settings)
    hashed = hashing.hash_sync(PASSWORD)
    cpu0 = time.process_time()
    for _ in range(5):
        assert hashing.verify_sync(hashed, PASSWORD).ok
    facts = {
        "argon2": hashed.split("$")[3],  # "m=19456,t=2,p=1"
        "verify_cpu_ms": round((time.process_time() - cpu0) / 5 * 1000, 1),
        "hash_threads": settings.hash_threads,
        "hash_queue": settings.hash_queue,
        "hash_wait_s": settings.hash_wait_s,
    }
    return hashed, facts


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is None, "this scenario starts its own hubs"
    hashed, facts = await asyncio.to_thread(_default_hash)
    prepare = functools.partial(add_login_users, password_hash=hashed, n=USERS)
    placements = []
    for where in ("server", "all"):
        cpus = ctx.pinning.server if where == "server" else _all_cpus(ctx)
        setup = Setup(targets=("hub",), prepare_hub_db=prepare, server_cpus=where)
        async with ctx.targets.running("hub", setup) as hub:
            placements.append(await _Placement(hub, where, cpus, ctx).measure(sizes))
    return {"target": "hub", "users": USERS, "ping_interval_ms": PING_INTERVAL_S * 1000, **facts,
            "placements": placements}  # fmt: skip


def _all_cpus(ctx: Context) -> frozenset[int] | None:
    server, clients = ctx.pinning.server, ctx.pinning.clients
    return None if server is None or clients is None else server | clients


class _Placement:
    """One hub process and the two client processes: the tablet at rest, then every burst."""

    def __init__(self, hub: Target, where: Placement, cpus: frozenset[int] | None, ctx: Context) -> None:
        self.hub, self.where, self.ctx = hub, where, ctx
        n = len(cpus) if cpus is not None else ctx.pinning.available
        self.label = f"{n} CPU{'s' if n > 1 else ''}"
        self.first = 0  # the run's next login number (user and address)

    async def measure(self, sizes: tuple[int, ...]) -> dict[str, Any]:
        ctx, hub = self.ctx, self.hub
        root, cpus = str(ctx.targets.root), ctx.pinning.clients
        procs = [await ctx.targets.children.start_worker(cpus, root, "bench.loginload") for _ in range(2)]
        self.tablet, self.logins = (WorkerHandle(p, cpus, r) for p, r in zip(procs, ("tablet", "logins"), strict=True))
        try:
            await self.tablet.call("open", host="127.0.0.1", port=hub.port, token=hub.sub_token,
                                   interval_s=PING_INTERVAL_S)  # fmt: skip
            rest, noisy = await self._least_noisy(self._rest, "at rest")
            rest |= {"retries": len(noisy), "discarded": noisy}
            ctx.say(f"  logins, hub on {self.label}: at rest {line(rest)}")
            repeats = dict(ctx.profile.login_bursts)
            by_size = []
            for n in sizes:
                bursts = [await self._burst(n) for _ in range(repeats[n])]
                by_size.append(_merge(n, bursts))
                ctx.say(f"    {n} logins × {repeats[n]}: {line(by_size[-1])}")
        finally:
            for proc in procs:
                await ctx.targets.children.stop(proc)
        return {"placement": self.where, "label": self.label, "rest": rest, "sizes": by_size}

    async def _quiet(self) -> None:
        await wait_server_quiet(self.hub.pid, below_pct=QUIET_PCT, timeout=30.0)
        await asyncio.sleep(SETTLE_S)

    async def _rest(self) -> dict[str, Any]:
        await self._quiet()
        meter = self.ctx.meter(self.hub, self.tablet.pid, self.logins.pid)
        t0, loop0 = time.time(), thread_schedstat(self.hub.pid)
        await asyncio.sleep(self.ctx.profile.login_rest_s)
        t1, cpu = time.time(), meter.stop() | {"loop": _loop(loop0, thread_schedstat(self.hub.pid))}
        pings = await self.tablet.call("window", t0=t0, t1=t1, grace_s=GRACE_S)
        return _pings(pings) | {"cpu": cpu, "seconds": round(t1 - t0, 3)}

    async def _burst(self, n: int) -> dict[str, Any]:
        """One burst of ``n`` logins, run again when the machine was busy (:meth:`_least_noisy`)."""
        best, discarded = await self._least_noisy(lambda: self._attempt(n), f"burst of {n}")
        return best | {"retries": len(discarded), "discarded": [_brief(a) for a in discarded]}

    async def _least_noisy(
        self, measure: Callable[[], Awaitable[dict[str, Any]]], what: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``measure`` again (twice at most) while other processes took CPU meanwhile; the attempt during which
        they took the least counts, the others are returned to be kept in the record."""
        attempts: list[dict[str, Any]] = []
        while not attempts or (attempts[-1]["cpu"]["noisy"] and len(attempts) <= MAX_NOISY_RETRIES):
            if attempts:
                other = attempts[-1]["cpu"]["other_cpu_pct"]
                self.ctx.say(f"      {what}: the machine was busy (other processes {other}%), once more")
            attempts.append(await measure())
        best = min(attempts, key=lambda a: float(a["cpu"]["other_cpu_pct"]))
        return best, [a for a in attempts if a is not best]

    async def _attempt(self, n: int) -> dict[str, Any]:
        """A quiet hub, then the burst; the tablet's pings from its first request to its last answer."""
        await self._quiet()
        meter = self.ctx.meter(self.hub, self.tablet.pid, self.logins.pid)
        loop0 = thread_schedstat(self.hub.pid)
        logins = await self.logins.call(
            "burst", host="127.0.0.1", port=self.hub.port, n=n, first=self.first, users=USERS,
            prefix=USER_PREFIX, password=PASSWORD, timeout_s=LOGIN_TIMEOUT_S,
        )  # fmt: skip
        cpu = meter.stop() | {"loop": _loop(loop0, thread_schedstat(self.hub.pid))}
        self.first += n
        pings = await self.tablet.call("window", t0=logins["t0"], t1=logins["t1"], grace_s=GRACE_S)
        return {"logins": logins, "pings": pings, "cpu": cpu, "seconds": round(logins["t1"] - logins["t0"], 3)}


def _loop(before: tuple[float, float, int], after: tuple[float, float, int]) -> dict[str, Any]:
    """The hub's event-loop thread over a window: its CPU, and how long it waited, runnable, for a CPU (another
    thread of the hub, e.g. hashing, or another process had it): the part of a ping's delay that is scheduling."""
    cpu, wait, runs = (b - a for a, b in zip(before, after, strict=True))
    return {"cpu_ms": round(cpu * 1000, 1), "wait_ms": round(wait * 1000, 1), "runs": int(runs),
            "wait_us_per_run": round(wait * 1e6 / runs) if runs else None}  # fmt: skip


def _pings(window: dict[str, Any]) -> dict[str, Any]:
    """Percentiles (ms) of a window's round trips and hub parts; the raw seconds are dropped."""
    return {k: v for k, v in window.items() if k not in ("rtt_s", "hub_s")} | _stats(window["rtt_s"], window["hub_s"])


def _stats(rtt: list[float], hub: list[float]) -> dict[str, Any]:
    return {
        "rtt_ms": percentiles(rtt) | {"max": round(max(rtt) * 1000, 2) if rtt else None},
        "hub_ms": percentiles(hub) | {"max": round(max(hub) * 1000, 2) if hub else None},
    }


def _merge(n: int, bursts: list[dict[str, Any]]) -> dict[str, Any]:
    """The bursts of one size as one: percentiles over every ping and every login of them."""
    statuses: dict[str, int] = {}
    unexpected: dict[str, int] = {}
    for b in bursts:
        for src, dst in ((b["logins"]["statuses"], statuses), (b["logins"]["unexpected"], unexpected)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
    pings = [b["pings"] for b in bursts]
    latency = [s for b in bursts for s in b["logins"]["latency_s"]]
    seconds = sum(b["seconds"] for b in bursts)
    keys = ("server_cpu_pct", "client_cpu_total_pct", "other_cpu_pct", "steal_pct")
    cpu: dict[str, Any] = {
        k: round(sum(b["cpu"][k] * b["seconds"] for b in bursts) / max(seconds, 1e-6), 1) for k in keys
    }
    loops = [b["cpu"]["loop"] for b in bursts]
    wait, runs = sum(x["wait_ms"] for x in loops), sum(x["runs"] for x in loops)
    cpu["loop"] = {"cpu_ms": round(sum(x["cpu_ms"] for x in loops), 1), "wait_ms": round(wait, 1), "runs": runs,
                   "wait_us_per_run": round(wait * 1000 / runs) if runs else None}  # fmt: skip
    return {
        "n": n,
        "bursts": [_brief(b) for b in bursts],
        "logins": n * len(bursts),
        "statuses": statuses,
        "unexpected": unexpected,
        "login_ms": percentiles(latency) | {"max": round(max(latency) * 1000, 2) if latency else None},
        "sent": sum(p["sent"] for p in pings),
        "unanswered": sum(p["unanswered"] for p in pings),
        "n_unexpected_frames": max(p["n_unexpected_frames"] for p in pings),
        "alive": all(p["alive"] for p in pings),
        "client_late_ms": max(p["client_late_ms"] for p in pings),
        **_stats([s for p in pings for s in p["rtt_s"]], [s for p in pings for s in p["hub_s"]]),
        "cpu": cpu | {"noisy": any(b["cpu"]["noisy"] for b in bursts)},
        "retries": sum(b["retries"] for b in bursts),
        "seconds": round(seconds, 3),
    }


def _brief(burst: dict[str, Any]) -> dict[str, Any]:
    """One burst for the JSON record: its figures without the raw samples."""
    logins = {k: v for k, v in burst["logins"].items() if k != "latency_s"}
    latency = burst["logins"]["latency_s"]
    return {
        "logins": logins | {"login_ms": percentiles(latency)},
        "pings": _pings(burst["pings"]),
        "cpu": burst["cpu"],
        "seconds": burst["seconds"],
        "retries": burst.get("retries", 0),
        "discarded": burst.get("discarded", []),  # the noisy attempts before it, already brief
    }
