"""The city scenario's database: a PostgreSQL template migrated and seeded once per run, plus a city's rows.

There is no REST endpoint that creates trucks or users, so the rows go in with plain SQL before
any hub starts: one truck per shift (the seeded menu's shared categories, sides and drinks, are
sold by every truck), a staff account per truck, and a driver account per simulated driver
(the low-cost argon2id hash of :func:`cheap_password_hash`, with the hubs set to match, so a thousand logins
take seconds).
Each case then runs on its own ``CREATE DATABASE … TEMPLATE`` copy: both start from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cluster import Postgres, run_app
from bench.scenarios.ingest_support import DRIVER_PASSWORD, cheap_password_hash
from bench.targets import Targets

__all__ = ["DRIVER_PASSWORD", "DRIVER_PREFIX", "LOCATIONS", "CityTemplate", "prepare_template"]

TRUCK_PREFIX = "bench-city-truck-"
STAFF_PREFIX = "bench-city-staff-"
DRIVER_PREFIX = "bench-city-driver-"
LOCATIONS = (1, 2)  # seeded; shifts alternate between them


@dataclass(frozen=True)
class CityTemplate:
    database: str  # the template's name on the server
    truck_ids: list[int]
    drivers: int


async def prepare_template(pg: Postgres, targets: Targets, trucks: int, drivers: int) -> CityTemplate:
    """Migrate and seed a new database with the hub's own commands, then add the city's rows in one go."""
    name = await pg.create("bench_city_tpl")
    url = pg.url(name)
    await run_app(targets, url, "migrate")
    await run_app(targets, url, "seed", "--if-empty")
    hashed = cheap_password_hash()
    conn = await pg.connect(name)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                "INSERT INTO trucks (name) SELECT $1 || g FROM generate_series(1, $2::int) AS g RETURNING id",
                TRUCK_PREFIX, trucks,
            )  # fmt: skip
            truck_ids = sorted(int(r["id"]) for r in rows)
            await conn.execute(
                "INSERT INTO users (username, password_hash, role, truck_id, active, created_at) "
                "SELECT $1 || t.n, $2, 'staff', t.id, true, now() FROM unnest($3::int[]) WITH ORDINALITY AS t(id, n)",
                STAFF_PREFIX, hashed, truck_ids,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO users (username, password_hash, role, truck_id, active, created_at) "
                "SELECT $1 || g, $2, 'driver', NULL, true, now() FROM generate_series(1, $3::int) AS g",
                DRIVER_PREFIX, hashed, drivers,
            )  # fmt: skip
    finally:
        await conn.close()
    return CityTemplate(name, truck_ids, drivers)
