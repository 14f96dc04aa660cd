"""Logins under load: hashing never stalls sockets nor holds database connections; throttling is atomic.

Hashing here is deliberately slow (argon2 at a few hundred milliseconds) so that a login on the
event loop, or a connection held across the hash, shows as a stalled ping or a pool timeout.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection

from app.db import Database
from tests.support.server import RunningServer, recv, send
from tests.support.timing import wait_until

SLOW_HASH = {"argon2_time_cost": 4, "argon2_memory_kib": 65536, "hash_workers": 1}


async def _login(http: httpx.AsyncClient, username: str, password: str, address: str) -> httpx.Response:
    """A login as if from ``address`` (the test client is a trusted proxy, so X-Forwarded-For is believed)."""
    body = {"username": username, "password": password}
    return await http.post("/api/auth/login", json=body, headers={"X-Forwarded-For": address})


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _ping_every(tablet: ClientConnection, interval: float, until: asyncio.Future[object]) -> list[float]:
    """Round-trip times of pings sent at a steady pace (not ping-pong: a stalled loop delays every one of them)."""
    sent: dict[int, float] = {}
    rtts: list[float] = []

    async def read() -> None:
        while True:
            frame = await recv(tablet)
            if frame["type"] == "pong":
                rtts.append(time.perf_counter() - sent[frame["id"]])

    reader = asyncio.ensure_future(read())
    while not until.done():
        sent[len(sent)] = time.perf_counter()
        await send(tablet, {"type": "ping", "id": len(sent) - 1})
        await asyncio.sleep(interval)  # the measurement's pace, not a wait for readiness
    await wait_until(lambda: len(rtts) == len(sent))
    reader.cancel()
    return rtts


@pytest.mark.hub(**SLOW_HASH, login_max_failures_ip=1000, commands_per_s=100_000, hash_wait_s=60.0)
async def test_a_burst_of_logins_does_not_stall_a_tablets_socket(server: RunningServer) -> None:
    tablet = await server.as_user("chef")
    async with server.client() as http:
        await _login(http, "nobody", "x", "10.1.0.1")  # warm-up: the dummy hash for unknown users is made once
        one_hash = min([await _timed(lambda: _login(http, "nobody", "x", "10.1.0.2")) for _ in range(2)])
        burst = asyncio.ensure_future(
            asyncio.gather(*(_login(http, f"ghost{i}", "x", f"10.2.0.{i}") for i in range(10)))
        )
        rtts = await _ping_every(tablet, 0.02, burst)
        answers = await burst
    assert {r.status_code for r in answers} == {401}
    assert len(rtts) >= 20, "the burst was too short to measure"
    # With hashing on the event loop, a ping waits for the hash in progress: half of one, on average.
    assert statistics.median(rtts) < one_hash / 4, (statistics.median(rtts), one_hash)


@pytest.mark.hub(**SLOW_HASH, db_pool_size=2, db_timeout_s=2.0, login_max_failures_ip=1000)
async def test_a_burst_of_logins_never_holds_database_connections(server: RunningServer) -> None:
    """Thirty wrong logins from thirty addresses: none waits on the pool, and a kitchen's read goes through."""
    token = await server.token("chef")
    async with server.client() as http, server.client(token) as kitchen:
        burst = asyncio.gather(*(_login(http, f"ghost{i}", "x", f"10.3.0.{i}") for i in range(30)))
        task = asyncio.ensure_future(burst)
        await asyncio.sleep(0)
        read = await kitchen.get("/api/trucks")
        answers = await task
    assert read.status_code == 200
    statuses = [r.status_code for r in answers]
    assert 500 not in statuses and set(statuses) <= {401, 503}, statuses
    for response in answers:
        if response.status_code == 503:  # the hashing queue was full: told when to come back
            assert int(response.headers["retry-after"]) >= 1


@pytest.mark.hub(**SLOW_HASH, hash_queue=2, hash_wait_s=0.5, login_max_failures_ip=1000)
async def test_a_saturated_hashing_pool_answers_503_with_retry_after(server: RunningServer) -> None:
    async with server.client() as http:
        answers = await asyncio.gather(*(_login(http, f"ghost{i}", "x", f"10.4.0.{i}") for i in range(12)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(503) >= 1 and set(statuses) <= {401, 503}, statuses
    busy = next(r for r in answers if r.status_code == 503)
    assert busy.json()["error"]["code"] == "unavailable" and int(busy.headers["retry-after"]) >= 1


@pytest.mark.hub(login_max_failures_user=5, login_max_failures_ip=1000)
async def test_parallel_guesses_for_one_username_meet_the_limit(server: RunningServer) -> None:
    """Thirty guesses at once: exactly five are checked, the rest are refused 429; then even the right
    password is refused from that address until the window passes."""
    async with server.client() as http:
        answers = await asyncio.gather(*(_login(http, "chef", f"wrong{i}", "10.5.0.1") for i in range(30)))
        statuses = [r.status_code for r in answers]
        assert statuses.count(401) == 5 and statuses.count(429) == 25, statuses
        assert (await _login(http, "chef", "password", "10.5.0.1")).status_code == 429


@pytest.mark.hub(login_max_failures_user=1000, login_max_failures_ip=20)
async def test_parallel_failures_from_one_address_meet_the_limit(server: RunningServer) -> None:
    async with server.client() as http:
        answers = await asyncio.gather(*(_login(http, f"user{i}", "x", "10.6.0.1") for i in range(30)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) == 20 and statuses.count(429) == 10, statuses


@pytest.mark.hub(login_max_failures_user=5, login_max_failures_account=8)
async def test_guessers_cannot_lock_a_user_out_of_their_own_address(server: RunningServer) -> None:
    async with server.client() as http:
        assert (await _login(http, "admin", "password", "192.168.7.7")).status_code == 200  # the admin's office
        for _ in range(5):
            assert (await _login(http, "admin", "guess", "203.0.113.1")).status_code == 401
        assert (await _login(http, "admin", "guess", "203.0.113.1")).status_code == 429  # that guesser is stopped
        assert (await _login(http, "admin", "password", "198.51.100.4")).status_code == 200  # elsewhere: fine
        for i in range(2, 10):  # a guesser spread over many addresses fills the account's hourly budget
            await _login(http, "admin", "guess", f"203.0.113.{i}")
        refused = await _login(http, "admin", "password", "203.0.113.77")
        assert refused.status_code == 429  # strangers are refused, even with the right password...
        assert (await _login(http, "admin", "password", "192.168.7.7")).status_code == 200  # ...the office is not


@pytest.mark.hub(argon2_time_cost=2, argon2_memory_kib=128)
async def test_a_login_upgrades_a_hash_made_with_older_parameters(server: RunningServer) -> None:
    db = Database(server.settings.database_url)
    try:
        query = text("SELECT password_hash FROM users WHERE username = 'chef'")
        async with db.engine.connect() as conn:
            before = (await conn.execute(query)).scalar_one()
        await server.login("chef")
        async with db.engine.connect() as conn:
            after = (await conn.execute(query)).scalar_one()
    finally:
        await db.close()
    assert "m=64,t=1" in before and "m=128,t=2" in after
    await server.login("chef")  # and the upgraded hash verifies
