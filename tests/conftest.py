"""Shared fixtures: a migrated and seeded template database, and a real server per test.

Per-test settings come from ``@pytest.mark.hub(field=value, ...)``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.db import Database
from app.migrate import upgrade
from app.passwords import Argon2Params, PasswordHashing
from app.seed import DEMO_PASSWORD, seed
from app.settings import Settings
from tests.support.backends import BACKEND, PostgresDatabases
from tests.support.server import OVERRUNS, RunningServer, run_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hub(**settings): override Settings fields for the test's server")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if OVERRUNS.seen:
        terminalreporter.write_sep("-", "server shutdown steps that overran (left behind: app/shutdown.py)")
        for line in OVERRUNS.seen:
            terminalreporter.write_line(line)


def service_url(name: str) -> str | None:
    """URL of a real service for tests; in CI a missing one is an error, locally a skip."""
    url = os.environ.get(name)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not set: CI must provide the real service")
        pytest.skip(f"{name} not set: start the service and export {name} to run this test")
    return url


# Hashing cheap enough for a test suite (argon2 at its smallest); tests of hashing itself set their own.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 64}


def _fill(url: str) -> None:
    upgrade(url)
    cheap = Argon2Params(time_cost=CHEAP_ARGON2["argon2_time_cost"], memory_kib=CHEAP_ARGON2["argon2_memory_kib"])

    async def fill() -> None:
        db = Database(url)
        await seed(db, password_hash=PasswordHashing(cheap).hash_sync(DEMO_PASSWORD))
        await db.close()

    asyncio.run(fill())


@pytest.fixture(scope="session")
def postgres() -> PostgresDatabases:
    return PostgresDatabases(service_url("HUB_TEST_DATABASE_URL"))


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresDatabases) -> Iterator[str]:
    """A migrated, seeded Postgres database to clone (``CREATE DATABASE … TEMPLATE``) per test."""
    name = postgres.create(prefix="hub_tpl")
    try:
        _fill(postgres.url(name))
        yield name
    finally:
        postgres.drop(name)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """Migrate and seed once; each test gets a copy (argon2 hashing once, not per test)."""
    if BACKEND == "postgres":
        return str(request.getfixturevalue("pg_template"))
    path = tmp_path_factory.mktemp("template") / "hub.db"
    _fill(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(template_db: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if BACKEND == "postgres":
        pg: PostgresDatabases = request.getfixturevalue("postgres")
        name = pg.create(template=template_db)
        try:
            yield pg.url(name)
        finally:
            pg.drop(name)
        return
    target = tmp_path / "hub.db"
    shutil.copy(template_db, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def empty_database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database with no rows at all: what an operator has on day one in production."""
    if BACKEND == "postgres":
        pg: PostgresDatabases = request.getfixturevalue("postgres")
        name = pg.create()
        try:
            upgrade(pg.url(name))
            yield pg.url(name)
        finally:
            pg.drop(name)
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    yield url


@pytest.fixture
def broker_settings() -> dict[str, str]:
    """The Redis broker under a namespace of this test's own in the postgres configuration, else in-process."""
    if BACKEND == "postgres":
        return {"broker_url": service_url("HUB_TEST_REDIS_URL"), "redis_namespace": f"t{uuid.uuid4().hex[:10]}"}
    return {}


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, broker_settings: dict[str, str]) -> Settings:
    base = Settings(
        database_url=database_url,
        node_id="test",
        drain_s=2.0,
        **CHEAP_ARGON2,
        **broker_settings,  # type: ignore[arg-type]
    )
    marker = request.node.get_closest_marker("hub")
    return replace(base, **marker.kwargs) if marker else base


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(settings) as running:
        yield running


CLUSTER_HEARTBEAT_S = 1.0  # presence of a dead node must go within about two heartbeats: keep tests short


@pytest.fixture
def cluster_settings(postgres: PostgresDatabases, pg_template: str) -> Iterator[Settings]:
    """Settings for hub processes sharing a fresh Postgres database (from the template) and the test Redis."""
    name = postgres.create(template=pg_template)
    try:
        yield Settings(
            database_url=postgres.url(name),
            broker_url=service_url("HUB_TEST_REDIS_URL"),
            redis_namespace=f"c{uuid.uuid4().hex[:10]}",
            heartbeat_s=CLUSTER_HEARTBEAT_S,
            drain_s=2.0,
        )
    finally:
        postgres.drop(name)
