"""``make soak`` runs end to end on a tiny city for a few seconds (no soak runs here, and nothing is timed).

``python -m bench.soak`` starts two hub processes on a throw-away PostgreSQL database sharing Redis, the
POS + tablets, drivers and dashboards processes, exactly as ``make soak`` does, with 8 tablets on 4 shifts,
10 drivers, 2 dashboards and 10 orders/s for 12 s, one row every 4 s. Checked: the record and the page are
written, every order was acknowledged and reached both tablets of its shift exactly once, no error frame and
no disconnect, every row has each hub's RSS and connections, and the database and Redis keys are gone. RSS
flatness over 12 s is the machine's to judge, not a test's: it may fail, alone, and the exit status says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
RATE, SECONDS, SHIFTS, PER_SHIFT, DRIVERS, DASHBOARDS, NODES = 10, 12, 4, 2, 10, 2, 2


def _service(name: str) -> str:
    """A real service's URL; in CI a missing one is an error, locally a skip (as tests/conftest.py does)."""
    url = os.environ.get(name)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not set: CI must provide the real service")
        pytest.skip(f"{name} not set: start the service and export {name} to run the soak")
    return url


async def _leftovers(database_url: str, redis_url: str, database: str, namespace: str) -> tuple[int, int]:
    u = make_url(database_url)
    conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                                 database=u.database)  # fmt: skip
    try:
        databases = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", database)
    finally:
        await conn.close()
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*")]
    finally:
        await client.aclose()
    return int(databases), len(keys)


def _soak(tmp_path: Path, database_url: str, redis_url: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    docs = tmp_path / "soak.md"
    argv = [
        sys.executable, "-m", "bench.soak", "--minutes", str(SECONDS / 60), "--interval", "4",
        "--shifts", str(SHIFTS), "--tablets-per-shift", str(PER_SHIFT), "--drivers", str(DRIVERS),
        "--dashboards", str(DASHBOARDS), "--nodes", str(NODES), "--order-rate", str(RATE), "--docs", str(docs),
        "--results", str(tmp_path), "--database-url", database_url, "--redis-url", redis_url,
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    return proc, docs


def _check_rows(record: dict[str, Any]) -> None:
    rows = record["rows"]
    assert len(rows) == 1 + SECONDS // 4  # minute 0, then one every 4 s
    assert rows[0]["orders"] is None and all(r["orders"] is not None for r in rows[1:])
    per_node = (SHIFTS * PER_SHIFT + DRIVERS + DASHBOARDS) // NODES  # every client kind split over the nodes
    for row in [*rows, record["after"]]:
        assert [h["node"] for h in row["hubs"]] == ["soak-a", "soak-b"]
        assert all(h["rss_kib"] > 10_000 and h["connections"] == per_node for h in row["hubs"])
        assert row["hub_disconnects"] == {} and row["hub_errors"] == {}
    acknowledged = [r["orders"]["acknowledged"] for r in rows[1:]]
    assert acknowledged == sorted(acknowledged) and acknowledged[-1] > 0
    assert sum(r["pings"]["sent"] for r in rows[1:]) > 0
    assert all(r["pings"]["error_frames"] == 0 and r["pings"]["closed"] == {} for r in rows[1:])


def test_soak_on_a_tiny_city(tmp_path: Path) -> None:
    database_url, redis_url = _service("HUB_TEST_DATABASE_URL"), _service("HUB_TEST_REDIS_URL")
    proc, docs = _soak(tmp_path, database_url, redis_url)
    out = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    records = sorted(tmp_path.glob("*-soak.json"))
    assert proc.returncode in (0, 1) and records, f"soak failed to run ({proc.returncode}):\n{out}"
    record: dict[str, Any] = json.loads(records[-1].read_text())
    failed = [c["name"] for c in record["verdict"]["checks"] if not c["ok"]]
    assert all(name.startswith("RSS flat") for name in failed), out
    assert proc.returncode == (1 if failed else 0)
    final = record["after"]["orders"]
    assert final["sent"] == final["acknowledged"] == record["orders_planned"] == RATE * SECONDS
    assert final["n_errors"] == 0 and final["errors"] == {}
    assert final["receipts"] == final["expected_receipts"] == PER_SHIFT * final["acknowledged"]
    assert final["lost"] == final["duplicates"] == final["strays"] == final["unacknowledged_receipts"] == 0
    assert final["tablets_alive"] == SHIFTS * PER_SHIFT and final["tablet_error_frames"] == 0
    _check_rows(record)
    page = docs.read_text()
    assert page.startswith("# Soak") and "Generated by `python -m bench.soak" in page
    assert "## Every minute" in page and "## RSS per hub process" in page and "**PASS** no lost ticket" in page
    assert asyncio.run(_leftovers(database_url, redis_url, record["database"], record["redis_namespace"])) == (0, 0)
