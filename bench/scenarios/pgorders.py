"""Pgorders: the orders scenario on one shift served by two hub nodes sharing PostgreSQL and Redis.

A busy shift in a city deployment: the POS's orders alternate between two nodes (as a load
balancer spreads them), half the tablets are on each node, and every write on the shift is
serialised by its lock in PostgreSQL. Same search as :mod:`bench.scenarios.orders` (rates rise
until p99 order → tablet exceeds 50 ms or the rate is not held), same client process.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import redis.exceptions

from bench.cluster import Postgres, clear_namespace, hub_nodes, run_app
from bench.measure import fmt
from bench.pool import WorkerHandle
from bench.scenarios import orders
from bench.scenarios.base import Context, Metric, Profile, Setup
from bench.targets import Target

__all__ = ["METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "pgorders"
METHOD = """
- Pgorders (hub only): the orders scenario's search (same POS, tablets, rates and verdicts) on one shift served by
  two hub processes sharing a throw-away PostgreSQL database and Redis (a namespace of its own): order i goes to node
  i mod 2, tablet j is on node j mod 2, so half of every ticket's receipts cross from the node that took the order
  to the other one. Every process (both nodes, the client) may run on every CPU of the bench, beside PostgreSQL and
  Redis: on a 2-CPU machine they share both. Server CPU % is the first node's; the second node's is in the JSON.
  Target: one shift at ≥ 200 orders/s with order → tablet p99 ≤ 50 ms.
"""  # its bullet in docs/benchmarks.md's Method section
TARGET_PER_S = 200.0


def sizes(profile: Profile) -> tuple[int, ...]:
    return (profile.order_tablets,)


def setup(profile: Profile) -> Setup:
    return Setup(targets=("hub",), own_servers=True)  # two nodes on PostgreSQL + Redis (bench.cluster)


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is None, "this scenario starts its own nodes"
    if ctx.services is None:
        raise RuntimeError("pgorders needs PostgreSQL and Redis: pass --database-url and --redis-url")
    (tablets,) = sizes
    services, children, root = ctx.services, ctx.targets.children, str(ctx.targets.root)
    pg, namespace = Postgres(services.database_url), f"bench-pgorders-{uuid.uuid4().hex[:10]}"
    broker = {"HUB_BROKER_URL": services.redis_url, "HUB_REDIS_NAMESPACE": namespace}
    server, clients = ctx.pinning.server, ctx.pinning.clients
    cpus = None if server is None or clients is None else server | clients
    try:
        name = await pg.create("bench_pgorders")
        for step in ("migrate", "seed"):
            await run_app(ctx.targets, pg.url(name), step, *(("--if-empty",) if step == "seed" else ()))
        async with hub_nodes(ctx.targets, 2, pg.url(name), cpus=cpus, broker=broker, tag="pgorders") as hubs:
            proc = await children.start_worker(cpus, root, "bench.orderload")
            try:
                client = WorkerHandle(proc, cpus, "orders")
                result = await orders._search(hubs[0], tablets, client, ctx, nodes=hubs)
            finally:
                await children.stop(proc)
    except (asyncpg.PostgresError, redis.exceptions.RedisError, OSError) as exc:
        raise RuntimeError(f"pgorders: {type(exc).__name__}: {exc}") from None
    finally:
        await pg.drop_all()
        await clear_namespace(services.redis_url, namespace)
    return result | {"target": "hub", "nodes": 2, "database": "postgresql", "broker": "redis"}


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    best = result.get("max")
    return {
        f"pgorders max/s on one shift, two nodes, p99 ≤ {orders.P99_LIMIT_MS:g} ms": Metric(
            best["achieved_per_s"] if best else None, "/s", True, result.get("client_bound", False)
        )
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    text = orders.table(results)
    held = [r["max"]["achieved_per_s"] for r in results.values() if "error" not in r and r.get("max")]
    verdict = "met" if held and max(held) >= TARGET_PER_S else "missed"
    return text + f"\n\nTarget {fmt(TARGET_PER_S)} orders/s on one shift across two nodes: {verdict}."
