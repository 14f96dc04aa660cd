"""A private redis-server on a free port, for tests that stop and restart Redis under a running hub.

The machine's shared Redis (``HUB_TEST_REDIS_URL``) must not be restarted by one test, so these
tests start their own from the same installed binary. ``persistent`` keeps an append-only file
fsynced on every write: a restart then comes back with all of its data, as a production Redis
configured for the hub does (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.server import free_port
from tests.support.timing import MS

__all__ = ["PrivateRedis", "private_redis"]


class PrivateRedis:
    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.port = free_port()
        self.dir = directory
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not installed: these tests restart a Redis of their own")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--enable-debug-command", "yes"]  # DEBUG SLEEP: a Redis that stalls
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    with contextlib.suppress(Exception):
                        if await client.ping():
                            return
                    await asyncio.sleep(20 * MS)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """Kill -9: no goodbye to clients, as a crashed or restarted-by-orchestrator Redis."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        self.proc = None


@contextlib.asynccontextmanager
async def private_redis(directory: Path, *, persistent: bool) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(directory, persistent=persistent)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()
