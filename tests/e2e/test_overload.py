"""Admission control in a reconnect storm: an overloaded node answers at once (1013, 503) instead of queuing.

The database is made slow the honest way: the test holds a write lock on the ``devices`` table, so
a hello registering a device, or a REST call writing one, waits for the database like it would
behind an exhausted pool. Nothing in the hub is mocked.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets

from tests.support.db_locks import devices_locked, sessions_unreadable
from tests.support.nodes import metric
from tests.support.server import RunningServer, closed_with, recv, send
from tests.support.timing import MS


async def _metrics(server: RunningServer) -> str:
    async with server.client() as http:
        return (await http.get("/metrics")).text


async def _hello_waiting(server: RunningServer, ws: websockets.ClientConnection, token: str) -> None:
    """Sends ``ws``'s hello, then polls until the node counts it among the hellos waiting for the database."""
    await send(ws, {"type": "hello", "token": token, "device": {"id": "storm-1", "kind": "kds"}})
    async with server.client() as http:
        while metric((await http.get("/metrics")).text, "hub_connections_opened_total") < 1:
            await asyncio.sleep(10 * MS)  # polling: the hello is in (its session read now waits)


@pytest.mark.timeout(60)
@pytest.mark.hub(max_pending_hellos=1)
async def test_a_socket_beyond_the_waiting_hellos_is_refused_at_its_upgrade(server: RunningServer) -> None:
    """Refused before any WebSocket work: HTTP 503 with Retry-After, cheaper than accept, hello and close 1013."""
    chef = await server.token("chef")
    async with sessions_unreadable(server.settings.database_url):
        waiting = await websockets.connect(server.ws_url)
        await _hello_waiting(server, waiting, chef)
        started = time.monotonic()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url)
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 1.0  # answered, not queued behind the database
    welcome = await recv(waiting, timeout=5000 * MS)  # the lock is gone: the waiting hello goes through
    assert welcome["type"] == "welcome"
    text = await _metrics(server)
    assert metric(text, "hub_overload_refusals_total", what="upgrade") == 1.0
    await waiting.close()


@pytest.mark.timeout(60)
@pytest.mark.hub(max_pending_hellos=1)
async def test_a_hello_beyond_the_waiting_ones_is_closed_1013_at_once(server: RunningServer) -> None:
    """A socket upgraded while a slot was free, whose hello comes when none is: closed 1013 at once."""
    chef, cook = await server.token("chef"), await server.token("cook2")
    async with sessions_unreadable(server.settings.database_url):
        waiting = await websockets.connect(server.ws_url)
        late = await websockets.connect(server.ws_url)  # upgraded while no hello waits
        await _hello_waiting(server, waiting, chef)
        started = time.monotonic()
        await send(late, {"type": "hello", "token": cook})
        code, frames = await closed_with(late, timeout=2000 * MS)
        assert code == 1013 and frames == []
        assert time.monotonic() - started < 1.0
    welcome = await recv(waiting, timeout=5000 * MS)
    assert welcome["type"] == "welcome"
    text = await _metrics(server)
    assert metric(text, "hub_overload_refusals_total", what="hello") == 1.0
    assert metric(text, "hub_disconnects_total", by="server", code="1013") == 1.0
    await waiting.close()


@pytest.mark.timeout(60)
@pytest.mark.hub(max_pending_requests=1)
async def test_a_request_beyond_the_pending_ones_gets_503_with_retry_after_at_once(server: RunningServer) -> None:
    token = await server.token("chef")
    async with server.client(token) as http:
        async with devices_locked(server.settings.database_url):

            def register() -> asyncio.Future[httpx.Response]:
                return asyncio.ensure_future(http.post("/api/devices", json={"device_id": "till-2", "kind": "pos"}))

            slow = register()
            deadline = time.monotonic() + 5
            while True:  # until the slow call holds the one slot (it waits for the locked table) and a probe is refused
                assert time.monotonic() < deadline, "never refused"
                await asyncio.wait({slow}, timeout=50 * MS)
                if slow.done():  # a probe took the slot first and the slow call was the one refused: again
                    assert slow.result().status_code == 503
                    slow = register()
                    continue
                started = time.monotonic()
                refused = await http.get("/api/me")
                took = time.monotonic() - started
                if refused.status_code == 503:
                    break
            assert took < 1.0
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "unavailable"
        assert (await asyncio.wait_for(slow, 10)).status_code == 201  # the waiting one was not harmed
        assert (await http.get("/healthz")).status_code == 200  # health and metrics never count
    text = await _metrics(server)
    assert metric(text, "hub_overload_refusals_total", what="request") >= 1.0
