"""Which real database and broker the suite's servers use: ``HUB_TEST_BACKEND`` picks the configuration.

- ``sqlite`` (default): a copy of a migrated, seeded SQLite file per test and the in-process broker.
- ``postgres``: a fresh Postgres database per test, cloned from a migrated and seeded template
  (``CREATE DATABASE … TEMPLATE``), and the Redis broker with keys under a namespace of the test's own:
  the deployment a city runs, driven by the same tests.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["BACKEND", "PostgresDatabases"]

BACKEND = os.environ.get("HUB_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"HUB_TEST_BACKEND must be 'sqlite' or 'postgres', not {BACKEND!r}")


class PostgresDatabases:
    """Creates and drops throw-away databases on the server of ``HUB_TEST_DATABASE_URL``."""

    def __init__(self, url: str) -> None:
        self.base = make_url(url)

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    async def _admin(self) -> asyncpg.Connection:
        b = self.base
        return await asyncpg.connect(
            host=b.host, port=b.port or 5432, user=b.username, password=b.password, database=b.database
        )

    async def _execute(self, sql: str) -> None:
        admin = await self._admin()
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    def create(self, *, template: str | None = None, prefix: str = "hub_t") -> str:
        """A new database (a copy of ``template`` when given); returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"{clause}'))
        return name

    def drop(self, name: str) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
