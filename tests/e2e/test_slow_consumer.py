"""Slow consumers (protocol.md §2.6 4500): closed with the true code, and able to resume from history."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from app.settings import Settings
from tests.support.nodes import hub_process
from tests.support.rawclient import RawClient
from tests.support.server import RunningServer, command, recv, send
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

SLOW_4500 = 'hub_disconnects_total{by="server",code="4500"} 1.0'


async def _publish(manager: ClientConnection, first: int, count: int, data: dict[str, Any]) -> None:
    """``count`` notices on ``notice:1``, pipelined: all sent, then every ``published`` awaited."""
    for i in range(first, first + count):
        frame = {"type": "publish", "id": i, "topic": "notice:1", "event": "notice.posted", "data": {**data, "i": i}}
        await send(manager, frame)
    replies = 0
    while replies < count:
        reply = await recv(manager)
        assert reply["type"] == "published", reply
        replies += 1


@pytest.mark.timeout(120)
@pytest.mark.hub(send_buffer_bytes=4096, commands_per_s=100_000.0)
async def test_a_tablet_closed_4500_by_overflow_resumes_with_every_missed_event(server: RunningServer) -> None:
    """Default ``HUB_OUTBOUND_QUEUE`` and ``HUB_HISTORY_SIZE``: the events a 4500 drops are still in history.

    With the contract's 1024-frame queue over a 1000-event history, the tablet was always past the window
    (``recovered: false``). The small send buffer only keeps the kernel from hiding thousands of frames.
    """
    assert server.settings.outbound_queue < server.settings.history_size
    manager = await server.as_user("manager")
    token = await server.token("chef")
    slow = await RawClient.connect(server.port, rcvbuf=4096, limit=1024)
    await slow.send({"type": "hello", "token": token})
    assert (await slow.read_json())["type"] == "welcome"
    await slow.send({"type": "subscribe", "id": 1, "topic": "notice:1"})
    epoch = (await slow.read_json())["epoch"]
    # The tablet stops reading; notices pile up until its queue overflows (bounded: 1.5 x history).
    published = 0
    async with server.client() as http:
        while SLOW_4500 not in (await http.get("/metrics")).text:
            assert published < 1500, "no 4500 after 1500 events"
            await _publish(manager, published, 50, {"text": "n" * 500})
            published += 50
    await _publish(manager, published, 5, {})  # and a few more while it is away
    published += 5
    code, frames = await asyncio.wait_for(slow.read_until_close(), 10_000 * MS)
    slow.close()
    assert code == 4500
    seen = [f["seq"] for f in frames if f["type"] == "event"]
    assert seen == list(range(1, len(seen) + 1))
    last = seen[-1] if seen else 0

    tablet = await server.connect(token)
    since = {"seq": last, "epoch": epoch}
    reply = await command(tablet, {"type": "subscribe", "id": 2, "topic": "notice:1", "since": since})
    assert reply["recovered"] is True, (last, published)
    replayed = [(await recv(tablet))["seq"] for _ in range(published - last)]
    assert replayed == list(range(last + 1, published + 1))  # every missed event, once, in order


@pytest.mark.timeout(90)
async def test_a_tablet_that_stops_reading_is_closed_4500_not_4408_under_the_real_serve_path(
    settings: Settings,
) -> None:
    """Kernel buffers hide megabytes, so a stalled tablet's outbox may never overflow before the heartbeat
    gives up on it. With frames still unwritten when that happens, the story is "not reading" (4500)."""
    heartbeat_s = 5.0  # long enough for the 6 MB to be queued before the heartbeat can give up
    stall = replace(settings, node_id="stall", heartbeat_s=heartbeat_s)
    async with hub_process(stall, HUB_COMMANDS_PER_S="100000") as node:
        manager = await node.as_user("manager")
        slow = await RawClient.connect(node.port, rcvbuf=4096, limit=1024)
        await slow.send({"type": "hello", "token": await node.token("chef")})
        assert (await slow.read_json())["type"] == "welcome"
        await slow.send({"type": "subscribe", "id": 1, "topic": "notice:1"})
        assert (await slow.read_json())["type"] == "subscribed"
        # It stops reading (and never answers pings). 6 MB: more than the kernel holds (tcp_wmem's 4 MB cap),
        # far fewer frames than the outbox takes, so only the heartbeat can end this connection.
        await _publish(manager, 0, 120, {"text": "n" * 50_000})
        async with node.client() as http:

            async def decided() -> bool:
                return SLOW_4500 in (await http.get("/metrics")).text

            with contextlib.suppress(AssertionError):  # without a verdict in time, what it reads tells why
                await wait_until(decided, timeout=3 * heartbeat_s + 5000 * MS)
            code, frames = await asyncio.wait_for(slow.read_until_close(), 10_000 * MS)
            slow.close()
            assert code == 4500, code
            seen = [f["seq"] for f in frames if f["type"] == "event"]
            assert seen == list(range(1, len(seen) + 1)) and len(seen) < 120  # a gap-free prefix
            metrics = (await http.get("/metrics")).text
        assert SLOW_4500 in metrics
        assert 'hub_disconnects_total{by="server",code="4408"} 0.0' in metrics
