"""Day one in production: the first admin from the command line, then trucks, people and a kitchen over REST.

A fresh, empty database; a server in production mode; the command line as a real subprocess.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx

from app.settings import Settings
from tests.support.kitchen import events_until, order, subscribe
from tests.support.nodes import process_env
from tests.support.server import RunningServer, closed_with, run_server
from tests.support.timing import MS

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 48
ADMIN_PASSWORD = "correct horse battery staple"


async def users_command(database_url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """``python -m app users …`` against ``database_url`` in production mode."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "users", *args, cwd=ROOT,
        env=process_env(HUB_ENV="production", HUB_SECRET_KEY=SECRET, DATABASE_URL=database_url),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def production(settings: Settings, database_url: str) -> Settings:
    return replace(settings, env="production", secret_key=SECRET, database_url=database_url)


async def _login(server: RunningServer, username: str, password: str) -> str:
    async with server.client() as http:
        response = await http.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_a_fleet_is_put_into_service_from_an_empty_database(settings: Settings, empty_database_url: str) -> None:
    status, out, err = await users_command(
        empty_database_url, "create", "owner", "--role", "admin", stdin=ADMIN_PASSWORD
    )
    assert status == 0 and "created admin owner" in out, err
    async with run_server(production(settings, empty_database_url)) as server:
        admin = await _login(server, "owner", ADMIN_PASSWORD)
        async with server.client(admin) as http:
            truck = (await http.post("/api/trucks", json={"name": "Bao Bus"})).json()
            hours = [
                {"weekday": 0, "opens": "11:00", "closes": "15:00"},
                {"weekday": 0, "opens": "17:00", "closes": "22:00"},
            ]
            assert (await http.put(f"/api/trucks/{truck['id']}/hours", json={"hours": hours})).status_code == 200
            location = (await http.post("/api/locations", json={"name": "Pier 9", "lat": 37.8, "lon": -122.4})).json()
            boss = {"username": "boss", "password": "lunch rush manager 7", "role": "manager"}
            assert (await http.post("/api/users", json=boss)).status_code == 201
            category = (await http.post("/api/menu/categories", json={"name": "Bao", "truck_id": truck["id"]})).json()
            item = {"category_id": category["id"], "name": "Pork bao", "price_cents": 450, "station": "steamer"}
            bao = (await http.post("/api/menu/items", json=item)).json()
        manager = await _login(server, "boss", "lunch rush manager 7")
        async with server.client(manager) as http:
            cook = {"username": "mei", "password": "steamed buns all day", "role": "staff", "truck_id": truck["id"]}
            created = await http.post("/api/users", json=cook)
            assert created.status_code == 201, created.text
            driver = {"username": "dev", "password": "wheels on the bus go", "role": "driver"}
            assert (await http.post("/api/users", json=driver)).status_code == 201
        cook_token = await _login(server, "mei", "steamed buns all day")
        async with server.client(cook_token) as http:
            shift = await http.post("/api/shifts", json={"truck_id": truck["id"], "location_id": location["id"]})
            assert shift.status_code == 201, shift.text
            tablet = await server.connect(cook_token)
            await subscribe(tablet, f"kds:{shift.json()['id']}")
            assert (await order(http, shift.json()["id"], (bao["id"], 2))).status_code == 201
            (event,) = await events_until(tablet, lambda e: e["event"] == "ticket.created")
            assert event["data"]["items"][0]["name"] == "Pork bao"
        async with server.client(manager) as http:
            started = time.monotonic()
            assert (await http.delete(f"/api/users/{created.json()['id']}")).status_code == 204
            code, frames = await closed_with(tablet, 1000 * MS)
            assert code == 4401 and frames[-1]["code"] == "unauthorized" and time.monotonic() - started < 1.0
            async with server.client(cook_token) as cook_http:
                assert (await cook_http.get("/api/me")).status_code == 401
            assert (await _bad_login(server, "mei", "steamed buns all day")) == 401
        async with server.client(admin) as http:
            trail = (await http.get("/api/audit", params={"limit": 500})).json()["items"]
    actions = [entry["action"] for entry in reversed(trail)]
    assert actions[:8] == [
        "user.create", "truck.create", "truck.hours", "location.create", "user.create",
        "menu.category.create", "menu.item.create", "user.create",
    ]  # fmt: skip
    assert actions[8:] == ["user.create", "shift.check_in", "user.deactivate"]
    deactivated = trail[0]
    assert deactivated["old"]["active"] is True and deactivated["new"]["active"] is False
    assert trail[-1]["actor_id"] is None and trail[-1]["new"]["username"] == "owner"  # the command line
    (set_hours,) = [entry for entry in trail if entry["action"] == "truck.hours"]
    assert set_hours["old"] == [] and set_hours["new"] == hours


async def _bad_login(server: RunningServer, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/api/auth/login", json={"username": username, "password": password})
    return response.status_code


async def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path: Path, empty_database_url: str) -> None:
    status, _, err = await users_command(empty_database_url, "create", "owner", "--role", "admin", stdin="password")
    assert status == 2 and err.count("\n") == 1 and "most common passwords" in err
    status, _, err = await users_command(empty_database_url, "create", "owner", "--role", "admin", stdin="short")
    assert status == 2 and "at least 8 characters" in err
    assert (await users_command(empty_database_url, "create", "owner", "--role", "admin", stdin=ADMIN_PASSWORD))[0] == 0
    status, _, err = await users_command(empty_database_url, "create", "owner", "--role", "admin", stdin=ADMIN_PASSWORD)
    assert status != 0 and err.count("\n") == 1 and "taken" in err
    status, _, err = await users_command(empty_database_url, "create", "cook", "--role", "staff", stdin=ADMIN_PASSWORD)
    assert status == 2 and "truck" in err and err.count("\n") == 1
    status, out, _ = await users_command(empty_database_url, "list")
    assert status == 0 and "owner" in out and "admin" in out
    missing = f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'hub.db'}"
    status, _, err = await users_command(missing, "list")
    assert status == 1 and err.count("\n") == 1 and "cannot reach the database" in err
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    status, _, err = await users_command(unmigrated, "list")
    assert status == 1 and err.count("\n") == 1 and "python -m app migrate" in err
    status, out, err = await users_command(empty_database_url, "set-password", "owner", stdin="a brand new passphrase")
    assert status == 0, err
    status, out, err = await users_command(empty_database_url, "disable", "owner")
    assert status == 1 and "last active admin" in err  # nobody could manage the hub any more
