"""Shared fixtures: a migrated and seeded template database, and a real server per test.

Per-test settings come from ``@pytest.mark.hub(field=value, ...)``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.db import Database
from app.migrate import upgrade
from app.security import PasswordHashing
from app.seed import DEMO_PASSWORD, seed
from app.settings import Settings
from tests.support.server import RunningServer, run_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hub(**settings): override Settings fields for the test's server")


def service_url(name: str) -> str | None:
    """URL of a real service for tests; in CI a missing one is an error, locally a skip."""
    url = os.environ.get(name)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not set: CI must provide the real service")
        pytest.skip(f"{name} not set: start the service and export {name} to run this test")
    return url


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate and seed once; each test gets a copy (argon2 hashing once, not per test)."""
    path = tmp_path_factory.mktemp("template") / "hub.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    async def fill() -> None:
        db = Database(url)
        await seed(db, password_hash=PasswordHashing().hash(DEMO_PASSWORD))
        await db.close()

    asyncio.run(fill())
    return path


@pytest.fixture
def database_url(template_db: Path, tmp_path: Path) -> str:
    target = tmp_path / "hub.db"
    shutil.copy(template_db, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    base = Settings(database_url=database_url, node_id="test", drain_s=2.0)
    marker = request.node.get_closest_marker("hub")
    return replace(base, **marker.kwargs) if marker else base


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(settings) as running:
        yield running
