"""The real command line: production guard, graceful drain on SIGTERM, and migrations on real Postgres."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.db import Database
from app.migrate import upgrade
from app.seed import seed
from tests.conftest import service_url
from tests.support.nodes import process_env
from tests.support.server import closed_with, command, free_port
from tests.support.timing import MS, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_production_without_secret_refuses_to_start() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        cwd=ROOT,
        env=process_env(HUB_ENV="production"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"HUB_SECRET_KEY must be set" in err


async def test_seed_refused_in_production() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "seed",
        cwd=ROOT,
        env=process_env(HUB_ENV="production", HUB_SECRET_KEY="k" * 40),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"refusing to seed" in err


async def test_sigterm_closes_every_socket_1001_and_exits_within_drain(database_url: str) -> None:
    from tests.support.server import RunningServer

    port, drain_s = free_port(), 3.0
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        cwd=ROOT,
        env=process_env(PORT=str(port), DATABASE_URL=database_url, HUB_DRAIN_S=str(drain_s), HUB_LOG_LEVEL="warning"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def up() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, timeout=20_000 * MS)
        # Reuse the client helpers against the subprocess.
        server = RunningServer.__new__(RunningServer)
        server.port = port
        sockets = [await server.as_user(name) for name in ("chef", "cook2", "manager")]
        for i, ws in enumerate(sockets):
            await command(ws, {"type": "subscribe", "id": i, "topic": f"notice:{1 + i % 2}"})
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        codes = [(await closed_with(ws, timeout=drain_s))[0] for ws in sockets]
        assert codes == [1001, 1001, 1001]
        # uvicorn re-raises the captured SIGTERM once shutdown is complete: "terminated by SIGTERM" is a clean stop.
        assert await asyncio.wait_for(proc.wait(), drain_s + 2) in (0, -signal.SIGTERM)
        assert time.monotonic() - started < drain_s
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_migrations_and_seed_on_postgres() -> None:
    base = make_url(service_url("HUB_TEST_DATABASE_URL"))
    name = f"hub_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=base.host, port=base.port or 5432, user=base.username, password=base.password, database=base.database
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        try:
            assert await seed(db, password_hash="x") is True
            assert await seed(db, password_hash="x") is False  # not empty any more
            await db.ping()
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_make_run_starts_in_production_and_says_how_to_create_the_first_admin(tmp_path: Path) -> None:
    """The README's production command: no demo data (not an error), and one line naming the command to run."""
    port = free_port()
    env = process_env(
        HUB_ENV="production",
        HUB_SECRET_KEY="p" * 48,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        PORT=str(port),
        HOST="127.0.0.1",
    )
    proc = await asyncio.create_subprocess_exec(
        "make", "run", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # make and the server it starts form one group: stopped together
    )  # fmt: skip
    output = bytearray()

    async def collect() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            output.extend(chunk)

    reader = asyncio.ensure_future(collect())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def up() -> bool:
                assert proc.returncode is None, bytes(output).decode(errors="replace")
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, timeout=60_000 * MS)
            await wait_until(lambda: b"python -m app users create" in output, timeout=10_000 * MS)
            login = await http.post("/api/auth/login", json={"username": "admin", "password": "password"})
            assert login.status_code == 401  # no demo users in production
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        reader.cancel()
