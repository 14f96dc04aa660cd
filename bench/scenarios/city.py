"""City: 2,000 KDS tablets on 500 shifts, 1,000 drivers, 20 fleet dashboards and REST orders at once, on one hub
process and then on two sharing Redis and PostgreSQL.

Each case gets a fresh copy of a PostgreSQL database holding 500 trucks (each with a staff
account and an open shift) and 1,000 driver accounts. The steady state — 50 orders/s over the
500 shifts, 500 pings/s — measures order → tablet and ping → dashboard latency and checks that
every tablet got every ticket of its shift exactly once; then bursts of orders at rising rates
(the pings going on) find the highest rate held with order → tablet p99 ≤ 50 ms and no error:
the fan-out capacity, one process against two.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions
from sqlalchemy.engine import make_url

from bench.cluster import Postgres, Services, clear_namespace, hub_nodes
from bench.measure import fmt, percentiles, wait_server_quiet
from bench.nodemeter import NodesMeter
from bench.pool import WorkerHandle
from bench.scenarios.base import Context, Profile, Setup
from bench.scenarios.city_data import DRIVER_PASSWORD, DRIVER_PREFIX, LOCATIONS, CityTemplate, prepare_template
from bench.scenarios.city_report import METHOD, headline, judge, line, table
from bench.scenarios.ingest_support import CHEAP_HASH_ENV, counter_delta, hub_counters
from bench.targets import Target

__all__ = ["METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "city"
GRACE_S = 2.0  # after the last scheduled order or ping: later answers and frames count as missing
CONNECTIONS = 16  # POS keep-alive connections per hub node
MAX_ORDERS_PER_SLOT = 10_000  # per shift and minute: far above what a shift gets here
OPEN_TIMEOUT_S = 120.0
QUIET_PCT = 30.0
WARMUP_S = 1.0
MAX_NOISY_RETRIES = 1  # a failed burst step during which other processes took CPU is run once more
MIN_BURST_RATE = 5.0  # orders/s: below this the search gives up (nothing held)


def sizes(profile: Profile) -> tuple[int, ...]:
    return (1, 2)  # hub processes: (a) one, in-process broker; (b) two, Redis broker


def setup(profile: Profile) -> Setup:
    return Setup(targets=("hub",), own_servers=True)


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    if ctx.services is None:
        raise RuntimeError("city needs PostgreSQL and Redis: pass --database-url and --redis-url")
    services, profile = ctx.services, ctx.profile
    try:
        await _check(services)
        pg = Postgres(services.database_url)
        try:
            template = await prepare_template(pg, ctx.targets, profile.city_shifts, profile.city_drivers)
            cases = [await _case(nodes, template, pg, services, ctx) for nodes in sizes]
        finally:
            await pg.drop_all()
    except (asyncpg.PostgresError, redis.exceptions.RedisError) as exc:
        raise RuntimeError(f"city: {type(exc).__name__}: {exc}") from None
    return {"target": "hub", "database": "postgresql", "cases": cases}


async def _check(services: Services) -> None:
    """Both services answer, or the scenario fails at once with where it looked."""
    try:
        conn = await Postgres(services.database_url).connect()
        await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise RuntimeError(f"city: no PostgreSQL at {services.database_url} (--database-url): {exc}") from None
    client = aioredis.Redis.from_url(services.redis_url)
    try:
        await client.ping()
    except (OSError, redis.exceptions.RedisError) as exc:
        raise RuntimeError(f"city: no Redis at {services.redis_url} (--redis-url): {exc}") from None
    finally:
        await client.aclose()


def _all_cpus(ctx: Context) -> frozenset[int] | None:
    """Every process of a city case may run on every CPU (the orchestrator pinned itself to the client CPUs)."""
    server, clients = ctx.pinning.server, ctx.pinning.clients
    return None if server is None or clients is None else server | clients


async def _case(nodes: int, template: CityTemplate, pg: Postgres, services: Services, ctx: Context) -> dict[str, Any]:
    db = await pg.create("bench_city", template=template.database)
    namespace = f"bench-city-{uuid.uuid4().hex[:10]}"
    broker = {"HUB_BROKER_URL": services.redis_url, "HUB_REDIS_NAMESPACE": namespace} if nodes > 1 else {}
    # Every tablet and dashboard holds the manager's token: far more sockets than the per-user cap lets one account
    # open (HUB_MAX_SOCKETS_PER_USER, 50 per node), so the city raises it for its own hubs.
    broker |= {"HUB_MAX_SOCKETS_PER_USER": str(ctx.profile.city_shifts * ctx.profile.city_tablets_per_shift + 1000)}
    broker |= CHEAP_HASH_ENV  # the drivers' low-cost hashes are not upgraded (rehashed) at their first login
    cpus, children, root = _all_cpus(ctx), ctx.targets.children, str(ctx.targets.root)
    redis_port = (make_url(services.redis_url).port or 6379) if nodes > 1 else None
    try:
        async with hub_nodes(ctx.targets, nodes, pg.url(db), cpus=cpus, broker=broker, tag=f"city{nodes}") as hubs:
            procs = [await children.start_worker(cpus, root, m) for m in ("bench.cityload", "bench.drivers")]
            procs.append(await children.start_worker(cpus, root, "bench.worker"))
            roles = ("POS + tablets", "drivers", "dashboards")
            workers = [WorkerHandle(p, cpus, r) for p, r in zip(procs, roles, strict=True)]
            try:
                city = _City(nodes, hubs, workers, ctx, lambda: NodesMeter(
                    [h.pid for h in hubs], [w.pid for w in workers], db, redis_port
                ))  # fmt: skip
                result = await city.measure(template)
                return result | {"database": db, "redis_namespace": namespace if nodes > 1 else None}
            finally:
                for proc in procs:
                    await children.stop(proc)
    finally:
        if nodes > 1:
            await clear_namespace(services.redis_url, namespace)


class _City:
    """One case: the hub nodes, the three client processes, the phases."""

    def __init__(
        self, nodes: int, hubs: list[Target], workers: list[WorkerHandle], ctx: Context, meter: Callable[[], NodesMeter]
    ) -> None:
        self.nodes, self.hubs, self.ctx, self.meter = nodes, hubs, ctx, meter
        self.load, self.drivers, self.dash = workers
        self.token = hubs[0].pub_token  # the manager's: every kds and gps:fleet, and orders on every truck
        p = ctx.profile
        self.ping_rate = p.city_drivers / p.city_ping_interval_s
        self.label = "1 hub process, in-process broker" if nodes == 1 else f"{nodes} hub processes, Redis broker"

    async def measure(self, template: CityTemplate) -> dict[str, Any]:
        setup_s = await self._connect(template)
        say, p = self.ctx.say, self.ctx.profile
        say(f"  city, {self.label}: " + ", ".join(f"{k} {v} s" for k, v in setup_s.items()))
        before = await self._counters()
        warm = await self._phase(p.city_order_rate, WARMUP_S, "warm")
        say(f"    warm-up: {line(warm)}")
        steady = await self._phase(p.city_order_rate, p.city_steady_s, "steady")
        say(f"    steady {fmt(p.city_order_rate)} orders/s, {fmt(self.ping_rate)} pings/s: {line(steady)}")
        burst = await self._burst(steady)
        totals = counter_delta(before, await self._counters())
        return {
            "nodes": self.nodes,
            "label": self.label,
            "broker": "redis" if self.nodes > 1 else "in-process",
            "shifts": p.city_shifts,
            "tablets": p.city_shifts * p.city_tablets_per_shift,
            "tablets_per_shift": p.city_tablets_per_shift,
            "drivers": p.city_drivers,
            "dashboards": p.city_dashboards,
            "ping_rate": self.ping_rate,
            "setup_s": setup_s,
            "warmup": warm,
            "steady": steady,
            **burst,
            "hub_totals": totals,  # every node's /metrics counters over the case (gps positions, drops, errors)
        }

    async def _connect(self, template: CityTemplate) -> dict[str, float]:
        p, hubs, host = self.ctx.profile, self.hubs, "127.0.0.1"
        shifts = await self.load.call(
            "shifts", nodes=[[host, h.port] for h in hubs], token=self.token,
            trucks=template.truck_ids[: p.city_shifts], locations=list(LOCATIONS),
            config={"max_orders_per_slot": MAX_ORDERS_PER_SLOT, "slot_minutes": 1},
        )  # fmt: skip
        login = await self.drivers.call(
            "login", host=host, port=hubs[0].port, prefix=DRIVER_PREFIX, n=p.city_drivers, password=DRIVER_PASSWORD
        )
        opened = await self.drivers.call(
            "open", host=host, port=hubs[0].port, ports=[h.port for h in hubs], path="/ws", mode="ws",
            n=p.city_drivers, timeout=OPEN_TIMEOUT_S,
        )  # fmt: skip
        _fail_if(opened, p.city_drivers, "driver sockets")
        share = [p.city_dashboards // len(hubs) + (i < p.city_dashboards % len(hubs)) for i in range(len(hubs))]
        for hub, k in zip(hubs, share, strict=True):
            dash = await self.dash.call(
                "open", n=k, host=host, port=hub.port, path="/ws", mode="ws", token=self.token, topic="gps:fleet",
                timeout=OPEN_TIMEOUT_S,
            )  # fmt: skip
            _fail_if(dash, k, "gps:fleet dashboards")
        tablets = await self.load.call(
            "tablets", per_shift=p.city_tablets_per_shift, token=self.token, timeout=OPEN_TIMEOUT_S
        )
        _fail_if(tablets, p.city_shifts * p.city_tablets_per_shift, "tablets")
        return {"shifts": shifts["seconds"], "driver logins": login["seconds"], "driver sockets": opened["seconds"],
                "tablets": tablets["seconds"]}  # fmt: skip

    async def _counters(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for hub in self.hubs:
            for key, value in (await hub_counters(dataclasses.replace(hub, name="hub"))).items():
                out[key] = out.get(key, 0.0) + value
        return out

    async def _phase(self, rate: float, duration: float, tag: str) -> dict[str, Any]:
        """Orders at ``rate`` and pings at the steady rate, together for ``duration``; then what arrived."""
        p = self.ctx.profile
        for hub in self.hubs:
            await wait_server_quiet(hub.pid, below_pct=QUIET_PCT, timeout=30.0)
        every = max(1, int(self.ping_rate * duration * p.city_dashboards / p.latency_samples))
        await self.dash.call("reset", every=every)
        meter = self.meter()
        orders = asyncio.create_task(
            self.load.call("step", rate=rate, duration=duration, tag=tag, grace_s=GRACE_S, connections=CONNECTIONS,
                           token=self.token)
        )  # fmt: skip
        try:
            sent = await self.drivers.call("send", rate=self.ping_rate, duration=duration, mode="ws")
            cpu = meter.stop()
            st = await self.dash.call("wait", expect=sent["sent"], timeout=GRACE_S, samples=True)
        finally:
            placed = await orders
        expected = sent["sent"] * p.city_dashboards
        pings = {k: v for k, v in sent.items() if k not in ("t_end", "write_buffered_bytes", "paused_sockets")}
        pings.update(
            delivered=st["total"], expected=expected,
            delivered_share=round(st["total"] / expected, 4) if expected else 0.0,
            min_per_dashboard=st["min"], dashboards_live=st["live"], dashboard_closes=st["closed"],
            latency_ms=percentiles(st["samples"]), n_samples=len(st["samples"]), sample_every=every,
        )  # fmt: skip
        result = {"rate": rate, "duration_s": duration, "orders": placed, "pings": pings, "cpu": cpu}
        why = judge(result, p.city_shifts * p.city_tablets_per_shift, p.city_drivers, p.city_dashboards)
        return result | {"ok": not why, "why": "; ".join(why)}

    async def _burst(self, steady: dict[str, Any]) -> dict[str, Any]:
        """Rates rise until a step fails (halve from the steady rate when even that failed, down to
        ``MIN_BURST_RATE``), then the gap to the last that held is bisected; the pings go on meanwhile."""
        p = self.ctx.profile
        steps: list[dict[str, Any]] = []
        best = steady if steady["ok"] else None
        fail: dict[str, Any] | None = None if steady["ok"] else steady
        queue = list(p.city_burst_rates) if steady["ok"] else [round(steady["rate"] / 2, 1)]
        bisections = retries = 0
        while queue:
            rate = queue.pop(0)
            step = await self._phase(rate, p.city_burst_step_s, f"b{rate:g}")
            self.ctx.say(f"    burst {rate:7.1f} orders/s: {line(step)}")
            if not step["ok"] and step["cpu"]["noisy"] and retries < MAX_NOISY_RETRIES:
                retries += 1
                queue.insert(0, rate)
                continue
            steps.append(step)
            if step["ok"]:
                best = step if best is None or rate > best["rate"] else best
            else:
                fail = step if fail is None or rate < fail["rate"] else fail
                queue = []
            if queue or fail is None:
                continue
            if best is None and fail["rate"] / 2 >= MIN_BURST_RATE:
                queue = [round(fail["rate"] / 2, 1)]
            elif best is not None and bisections < p.bisections:
                bisections += 1
                queue = [round((best["rate"] + fail["rate"]) / 2, 1)]
        held = best["orders"]["achieved_per_s"] if best else None
        return {
            "burst": steps,
            "max": best,
            "max_orders_per_s": held,
            "tablet_deliveries_per_s": round(held * p.city_tablets_per_shift) if held is not None else None,
            "dashboard_deliveries_per_s": round(best["pings"]["sent_per_s"] * p.city_dashboards) if best else None,
            "lowest_failing_rate": fail["rate"] if fail else None,
            "limited_by": fail["why"] if fail else "not reached",
            "cpus": os.cpu_count(),
        }


def _fail_if(reply: dict[str, Any], n: int, what: str) -> None:
    if reply["failed"] or reply["opened"] < n:
        raise RuntimeError(f"city: {reply['failed']} of {n} {what} failed: {reply['errors']}")
