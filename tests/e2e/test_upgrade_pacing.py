"""Upgrade pacing in a reconnect storm: past HUB_MAX_OPENING_SOCKETS, an upgrade waits for its 101 in order.

A socket is *opening* from its 101 until its hello is answered (or it closes). The test holds one
socket opening by not sending its hello, and watches the next upgrades wait, take their turn in
order when it is welcomed, skip a client that gave up, and, beyond the queue, get 503 at once.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from hub.hello_gate import QUEUE_PER_SLOT
from tests.support.nodes import metric, scrape, until_metric
from tests.support.server import RunningServer, recv, send
from tests.support.timing import MS


async def _waiting(server: RunningServer, n: int) -> None:
    await until_metric(server, "hub_upgrades_waiting", float(n))


def _connecting(server: RunningServer) -> asyncio.Task[ClientConnection]:
    async def connect() -> ClientConnection:
        return await websockets.connect(server.ws_url, open_timeout=30)

    return asyncio.create_task(connect())


async def _welcomed(ws: ClientConnection, token: str) -> None:
    await send(ws, {"type": "hello", "token": token})
    assert (await recv(ws, timeout=5000 * MS))["type"] == "welcome"


@pytest.mark.timeout(60)
@pytest.mark.hub(max_opening_sockets=1, max_sockets_per_user=QUEUE_PER_SLOT + 10)
async def test_upgrades_past_the_opening_sockets_wait_for_their_101_in_order(server: RunningServer) -> None:
    chef = await server.token("chef")
    first = await websockets.connect(server.ws_url)  # opening until its hello is answered
    second = _connecting(server)
    await _waiting(server, 1)
    gave_up = _connecting(server)
    await _waiting(server, 2)
    third = _connecting(server)
    await _waiting(server, 3)
    assert not second.done() and not third.done()  # no 101 while the first socket is opening

    gave_up.cancel()  # its client closes the TCP connection while it waits: it must not hold the turn
    await _waiting(server, 2)  # nor count against the queue
    await _welcomed(first, chef)  # the first is open: the second gets its 101
    ws2 = await asyncio.wait_for(second, 5)
    assert not third.done()
    await _welcomed(ws2, chef)  # the one that gave up is skipped: the third is next
    ws3 = await asyncio.wait_for(third, 5)
    await _welcomed(ws3, chef)
    assert metric(await scrape(server), "hub_upgrades_waiting") == 0.0
    for ws in (first, ws2, ws3):
        await ws.close()


@pytest.mark.timeout(60)
@pytest.mark.hub(max_opening_sockets=1)
async def test_a_socket_that_closes_before_its_hello_frees_its_turn(server: RunningServer) -> None:
    chef = await server.token("chef")
    silent = await websockets.connect(server.ws_url)
    next_one = _connecting(server)
    await _waiting(server, 1)
    await silent.close()
    await _welcomed(await asyncio.wait_for(next_one, 5), chef)


@pytest.mark.timeout(60)
@pytest.mark.hub(max_opening_sockets=1)
async def test_beyond_the_queue_an_upgrade_gets_503_with_retry_after_at_once(server: RunningServer) -> None:
    chef = await server.token("chef")
    first = await websockets.connect(server.ws_url)
    queued = [_connecting(server) for _ in range(QUEUE_PER_SLOT)]
    await _waiting(server, QUEUE_PER_SLOT)
    started = time.monotonic()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.ws_url)
    assert time.monotonic() - started < 1.0  # answered, not queued
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "1"
    assert metric(await scrape(server), "hub_overload_refusals_total", what="upgrade") == 1.0
    await _welcomed(first, chef)
    for task in queued:  # every queued one still gets in, one after the other
        ws = await asyncio.wait_for(task, 10)
        await _welcomed(ws, chef)
        await ws.close()
    await first.close()
