"""The newcomer's path from outside: the README walk-through and example run as written, `make watch` and
`make demo` against a live server (and none), Ctrl-C, and `python -m app migrate` against missing databases."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import service_url
from tests.support.kitchen import order
from tests.support.nodes import process_env
from tests.support.server import RunningServer, free_port
from tests.support.timing import MS

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
WAIT = 30_000 * MS


def readme_block(language: str, containing: str) -> str:
    """The README's fenced ``language`` block that contains ``containing`` (exactly one must)."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


async def _start(*argv: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=process_env(**env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches the whole group, as from a terminal
    )  # fmt: skip


async def _line_with(proc: asyncio.subprocess.Process, *needles: str, seen: list[str] | None = None) -> str:
    """Read stdout lines until one contains every needle; every line read is appended to ``seen``."""
    assert proc.stdout is not None
    async with asyncio.timeout(WAIT):
        while line := (await proc.stdout.readline()).decode():
            if seen is not None:
                seen.append(line)
            if all(n in line for n in needles):
                return line
    raise AssertionError(f"{needles} never printed; got {seen}")


async def _interrupt(proc: asyncio.subprocess.Process) -> tuple[str, str]:
    os.killpg(proc.pid, signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    return out.decode(), err.decode()


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="the walk-through uses .venv/bin/python: run `make test`")
async def test_readme_walkthrough_runs_verbatim(server: RunningServer) -> None:
    """HOST/PORT from the environment; curl logs in, opens a shift; the tablet subscribes; a curl order reaches it."""
    script = readme_block("sh", "hub_client listen")
    proc = await _start("bash", "-c", script, HOST="127.0.0.1", PORT=str(server.port))
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert '"topic":"kds:1"' in text and '> {"type":"subscribe"' in text and '< {"type":"welcome"' in text
    event = next(line for line in text.splitlines() if line.startswith('< {"type":"event"'))
    assert '"event":"ticket.created"' in event and '"customer_name":"Ada"' in event
    assert '"name":"Carne asada taco","qty":2,"modifiers":["no onion"]' in event


async def test_readme_client_example_runs(server: RunningServer) -> None:
    example = readme_block("python", "follow_kds").replace("http://127.0.0.1:8000", server.http)
    assert len(example.strip().splitlines()) <= 12
    async with server.client(await server.token("chef")) as http:
        shift_id = (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()["id"]
        proc = await _start(sys.executable, "-c", example, PYTHONPATH=str(ROOT))
        try:
            assert await _line_with(proc, "0 open None")
            assert (await order(http, shift_id, (1, 1))).status_code == 201
            assert await _line_with(proc, "1 open ticket.created")
        finally:
            proc.kill()
            await proc.wait()


@pytest.mark.skipif(
    subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT, capture_output=True).returncode != 0,
    reason="the venv is not up to date: `make watch` would reinstall it first (run `make test`)",
)
async def test_make_watch_prints_open_tickets_then_events_and_stops_on_ctrl_c(server: RunningServer) -> None:
    async with server.client(await server.token("chef")) as http:
        shift_id = (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()["id"]
        first = {"items": [{"item_id": 1, "qty": 2, "modifiers": ["no onion"]}], "customer_name": "Ada"}
        assert (await http.post(f"/api/shifts/{shift_id}/orders", json=first)).status_code == 201
        proc = await _start("make", "watch", HOST="127.0.0.1", PORT=str(server.port))
        before: list[str] = []
        await _line_with(proc, "watching", f"kds:{shift_id}", seen=before)
        assert any("1 open tickets" in line for line in before)
        (ada,) = [line for line in before if "Ada" in line]
        assert "#   1" in ada and "new" in ada and "2x Carne asada taco (no onion)" in ada
        second = {"items": [{"item_id": 8, "qty": 1, "modifiers": ["no ice"]}], "customer_name": "Grace"}
        assert (await http.post(f"/api/shifts/{shift_id}/orders", json=second)).status_code == 201
        created = await _line_with(proc, "ticket.created", "Grace")
        assert "#   2" in created and "1x Lemonade (no ice)" in created
        assert (await http.post("/api/orders/1/advance", json={"to": "in_progress"})).status_code == 200
        assert "Ada" in await _line_with(proc, "ticket.advanced", "in_progress")
        out, err = await _interrupt(proc)
    assert proc.returncode in (0, -signal.SIGINT)  # make itself dies of the SIGINT it was sent, silently
    assert err.strip() == "watch: stopped" and "make: ***" not in out + err and "Traceback" not in out + err


async def test_demo_places_orders_and_stops_on_ctrl_c(server: RunningServer) -> None:
    proc = await _start(sys.executable, "-m", "app", "demo", "--every", "0.2", HOST="127.0.0.1", PORT=str(server.port))
    assert "every 0.2s" in await _line_with(proc, "demo: an order on shift")
    assert re.match(r"#\s+1 new ", await _line_with(proc, "#   1"))
    out, err = await _interrupt(proc)
    assert proc.returncode == 0 and err.strip() == "demo: stopped" and "Traceback" not in out + err


@pytest.mark.parametrize("command", ["demo", "watch"])
async def test_demo_and_watch_say_plainly_when_no_hub_answers(command: str) -> None:
    port = free_port()
    proc = await _start(sys.executable, "-m", "app", command, HOST="127.0.0.1", PORT=str(port))
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 1 and out == b""
    assert err.decode() == f"fusionx-hub: no hub answers at http://127.0.0.1:{port}: start it with `make run`\n"


async def _migrate(url: str) -> str:
    proc = await _start(sys.executable, "-m", "app", "migrate", DATABASE_URL=url)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 1 and out == b"", out
    lines = err.decode().splitlines()
    assert len(lines) == 1, err.decode()
    return lines[0]


async def test_migrate_says_in_one_line_when_the_sqlite_folder_is_missing(tmp_path: Path) -> None:
    line = await _migrate(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'hub.db'}")
    assert (
        line
        == f"fusionx-hub: cannot migrate the database at sqlite+aiosqlite:///{tmp_path / 'missing' / 'hub.db'}: "
        + (f"the folder {tmp_path / 'missing'} does not exist")
    )


async def test_migrate_says_in_one_line_when_postgres_is_down() -> None:
    line = await _migrate(f"postgresql+asyncpg://hub@127.0.0.1:{free_port()}/hub")
    assert "cannot migrate the database at 127.0.0.1:" in line and "is PostgreSQL running" in line


async def test_migrate_says_in_one_line_when_the_postgres_database_is_missing() -> None:
    base = make_url(service_url("HUB_TEST_DATABASE_URL"))
    missing = f"hub_missing_{uuid.uuid4().hex[:8]}"
    line = await _migrate(base.set(database=missing).render_as_string(hide_password=False))
    assert f'database "{missing}" does not exist: create it first' in line
