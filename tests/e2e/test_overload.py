"""Admission control in a reconnect storm: hellos wait briefly for a slot; beyond that, 1013 and 503 at once.

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

from hub.hello_gate import QUEUE_PER_SLOT
from tests.support.db_locks import devices_locked, sessions_unreadable
from tests.support.nodes import metric, scrape, until_metric
from tests.support.server import RunningServer, closed_with, recv, send
from tests.support.timing import MS


async def _hello_sent(server: RunningServer, ws: websockets.ClientConnection, token: str, name: str) -> None:
    await send(ws, {"type": "hello", "token": token, "device": {"id": name, "kind": "kds"}})


@pytest.mark.timeout(60)
@pytest.mark.hub(max_pending_hellos=1, hello_queue_s=30, max_sockets_per_user=QUEUE_PER_SLOT + 10)
async def test_queued_hellos_go_through_when_a_slot_frees_and_beyond_the_queue_the_upgrade_gets_503(
    server: RunningServer,
) -> None:
    """One hello at work and a full queue behind it: every one is welcomed once the database answers; a
    socket beyond them is refused before any WebSocket work (HTTP 503, Retry-After), at once."""
    chef = await server.token("chef")
    sockets = [await websockets.connect(server.ws_url) for _ in range(1 + QUEUE_PER_SLOT)]  # while nothing waits
    # From here the first hello's session read waits on the database: kept well under the hub's 2 s for it.
    async with sessions_unreadable(server.settings.database_url):
        for ws in sockets:
            await send(ws, {"type": "hello", "token": chef})
        await until_metric(server, "hub_hellos_waiting", float(QUEUE_PER_SLOT))
        started = time.monotonic()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url)
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 1.0  # answered, not queued behind the database
    for ws in sockets:  # the lock is gone: the working hello and the queued ones all go through
        assert (await recv(ws, timeout=5000 * MS))["type"] == "welcome"
    text = await scrape(server)
    assert metric(text, "hub_overload_refusals_total", what="upgrade") == 1.0
    assert metric(text, "hub_overload_refusals_total", what="hello") == 0.0
    assert metric(text, "hub_hellos_waiting") == 0.0
    for ws in sockets:
        await ws.close()


@pytest.mark.timeout(60)
@pytest.mark.hub(max_pending_hellos=1, hello_queue_s=0.5)
async def test_a_hello_that_gets_no_slot_in_time_is_closed_1013(server: RunningServer) -> None:
    """A socket upgraded while a slot was free, whose hello then waits longer than HUB_HELLO_QUEUE_S: 1013."""
    chef, cook = await server.token("chef"), await server.token("cook2")
    working = await websockets.connect(server.ws_url)
    late = await websockets.connect(server.ws_url)  # upgraded while no hello waits
    async with sessions_unreadable(server.settings.database_url):
        await _hello_sent(server, working, chef, "storm-1")
        await until_metric(server, "hub_frames_received_total", 1.0, type="hello")  # read: it holds the slot
        started = time.monotonic()
        await send(late, {"type": "hello", "token": cook})
        await until_metric(server, "hub_hellos_waiting", 1.0)  # the slot is taken: it queues
        code, frames = await closed_with(late, timeout=5000 * MS)
        assert code == 1013 and frames == []
        assert time.monotonic() - started >= 0.5  # it waited its turn first
    welcome = await recv(working, timeout=5000 * MS)
    assert welcome["type"] == "welcome"
    text = await scrape(server)
    assert metric(text, "hub_overload_refusals_total", what="hello") == 1.0
    assert metric(text, "hub_disconnects_total", by="server", code="1013") == 1.0
    await working.close()


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
    text = await scrape(server)
    assert metric(text, "hub_overload_refusals_total", what="request") >= 1.0
