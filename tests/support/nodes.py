"""Real hub processes (``python -m app serve``) forming one cluster: one Postgres database, one Redis.

Each node is a separate OS process on its own port, so nothing is shared but what a deployment
shares: the database and Redis. Tests talk to them with the same helpers as to an in-process
server (:class:`tests.support.server.RunningServer` only needs a port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.settings import Settings
from tests.support.server import RunningServer, free_port
from tests.support.timing import MS, wait_until

__all__ = ["HubProcess", "hub_process", "metric", "process_env", "scrape", "until_metric"]

ROOT = Path(__file__).resolve().parents[2]


class HubProcess(RunningServer):
    """A node in its own process; ``kill()`` is SIGKILL (no drain, no goodbye), ``stop()`` SIGTERM."""

    proc: asyncio.subprocess.Process

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                await self.kill()


def process_env(**extra: str) -> dict[str, str]:
    """This environment without any hub setting (the test's own ``HUB_*`` must not leak in), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "DATABASE_URL", "PORT", "WORKERS"))}
    env.update(extra)
    return env


def _env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    """The node's environment from ``settings``; ``extra`` adds settings or overrides these."""
    env = process_env(
        PORT=str(port),
        DATABASE_URL=settings.database_url,
        HUB_BROKER_URL=settings.broker_url,
        HUB_REDIS_NAMESPACE=settings.redis_namespace,
        HUB_NODE_ID=settings.node_id,
        HUB_HEARTBEAT_S=str(settings.heartbeat_s),
        HUB_DRAIN_S=str(settings.drain_s),
        HUB_LOG_LEVEL="warning",
        HUB_ARGON2_TIME_COST=str(settings.argon2_time_cost),
        HUB_ARGON2_MEMORY_KIB=str(settings.argon2_memory_kib),
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def hub_process(
    settings: Settings, *, log: Path | None = None, unread_stderr: bool = False, **extra_env: str
) -> AsyncIterator[HubProcess]:
    """Start a node and wait until ``/readyz`` answers 200 (database and broker reachable).

    ``log``: a file for the node's standard error (by default it shows up in the test's output);
    ``unread_stderr``: a pipe nobody reads instead, as a log reader that stopped reading."""
    assert log is None or not unread_stderr, "one place for the node's standard error"
    port = free_port()
    unread: int | None = None
    stderr: int | None = None  # None: the node's warnings show up in the test's output when it fails
    if log is not None:
        stderr = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    elif unread_stderr:
        unread, stderr = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "serve",
            cwd=ROOT,
            env=_env(settings, port, **extra_env),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    except BaseException:
        if unread is not None:
            os.close(unread)
        raise
    finally:
        if stderr is not None:
            os.close(stderr)  # the child holds its own copy
    node = HubProcess(settings, port, None)  # type: ignore[arg-type]  # no in-process uvicorn.Server
    node.proc = proc
    try:
        async with httpx.AsyncClient(base_url=node.http) as http:

            async def ready() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(f"node {settings.node_id} exited with {proc.returncode} during start-up")
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/readyz")).status_code == 200
                return False

            await wait_until(ready, timeout=30_000 * MS)
        yield node
    finally:
        await node.stop()
        if unread is not None:
            os.close(unread)


def metric(text: str, name: str, **labels: Any) -> float:
    """One sample of a Prometheus text exposition; a missing one fails (a typo must not read as zero)."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{wanted} not in /metrics")


async def scrape(server: RunningServer) -> str:
    """The server's ``/metrics`` exposition, as Prometheus reads it."""
    async with server.client() as http:
        return (await http.get("/metrics")).text


async def until_metric(server: RunningServer, name: str, value: float, **labels: str) -> None:
    """Polls ``/metrics`` until ``name`` reads ``value``; fails after 5 s."""

    async def reads() -> bool:
        return metric(await scrape(server), name, **labels) == value

    await wait_until(reads, timeout=5000 * MS)
