"""Several hub nodes on one PostgreSQL database (and Redis as their broker): what a city deployment runs.

The fan-out, idle, orders and ingest scenarios start one hub on a SQLite copy
(:mod:`bench.targets`); the city scenario needs the shared services. Throw-away databases
are created on the server of ``--database-url`` (a migrated, seeded template once per run,
then one ``CREATE DATABASE … TEMPLATE`` clone per case) and dropped in a ``finally``; Redis
keys live under a namespace of their own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from bench.procs import free_port, wait_http
from bench.targets import HUB_ENV, Target, Targets, login, tail

__all__ = ["Postgres", "Services", "clear_namespace", "hub_nodes", "run_app"]


@dataclass(frozen=True)
class Services:
    """Where the city scenario finds PostgreSQL (an admin URL: throw-away databases are created beside it)
    and Redis."""

    database_url: str
    redis_url: str


class Postgres:
    """Creates and drops throw-away databases on the server of ``url`` (trust or password auth)."""

    def __init__(self, url: str) -> None:
        self.base = make_url(url)
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    async def connect(self, name: str | None = None) -> asyncpg.Connection:
        b = self.base
        return await asyncpg.connect(
            host=b.host, port=b.port or 5432, user=b.username, password=b.password, database=name or b.database,
            timeout=10,
        )  # fmt: skip

    async def create(self, prefix: str, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``, which nobody may be connected to); its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        admin = await self.connect()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await admin.close()
        self.created.append(name)
        return name

    async def drop_all(self) -> None:
        """Every database this object created, newest first (clones before their template)."""
        admin = await self.connect()
        try:
            for name in reversed(self.created):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        self.created = []


async def clear_namespace(redis_url: str, namespace: str) -> int:
    """Deletes the keys a run's hub nodes left under ``namespace:`` (history, sequences); how many."""
    client = aioredis.Redis.from_url(redis_url)
    deleted = 0
    try:
        async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            deleted += int(await client.delete(key))
    finally:
        await client.aclose()
    return deleted


async def run_app(targets: Targets, database_url: str, *args: str, timeout: float = 120.0) -> None:
    """``python -m app <args>`` against ``database_url`` (migrate, seed); raises with its output if it fails."""
    env = targets.env(DATABASE_URL=database_url, HUB_LOG_LEVEL="warning")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, cwd=targets.root, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:  # timed out or cancelled: do not leave it running
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"python -m app {' '.join(args)} failed: {out.decode(errors='replace')[-2000:]}")


@contextlib.asynccontextmanager
async def hub_nodes(
    targets: Targets,
    nodes: int,
    database_url: str,
    *,
    cpus: frozenset[int] | None,
    broker: dict[str, str],
    tag: str,
) -> AsyncIterator[list[Target]]:
    """``nodes`` hub processes (``python -m app serve``, each its own PORT and HUB_NODE_ID) on one database;
    ``broker`` adds e.g. HUB_BROKER_URL and HUB_REDIS_NAMESPACE. Each is a :class:`Target` whose tokens are the
    manager's; all are stopped on the way out."""
    started: list[Target] = []
    try:
        for index in range(nodes):
            port = free_port()
            node_id = f"{tag}-{chr(ord('a') + index)}"
            log = str(targets.workdir / f"{node_id}.log")
            env = targets.env(
                PORT=str(port), HOST="127.0.0.1", DATABASE_URL=database_url, **{**HUB_ENV, "HUB_NODE_ID": node_id}
            )
            env.update(broker)
            argv = [sys.executable, "-m", "app", "serve"]
            proc = targets.children.start(argv, cpus=cpus, env=env, cwd=str(targets.root), log=log)
            try:
                await wait_http(port, "/readyz", proc, timeout=60.0)
            except (RuntimeError, TimeoutError) as exc:
                await targets.children.stop(proc)
                raise RuntimeError(f"hub node {node_id} did not start: {exc}\n{tail(log)}") from None
            started.append(Target(node_id, port, proc, "ws", "/ws", "", ""))
        token = await login(started[0].port, "manager")
        yield [Target(t.name, t.port, t.proc, t.mode, t.path, token, token, topic="gps:fleet") for t in started]
    finally:
        for target in started:
            await targets.children.stop(target.proc)
