"""Both ways a connection runs: detached (frames by callback, the fast path) and plain ASGI (any server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests.support.server import RunningServer, closed_with, command, recv, run_server, send


@pytest.fixture
async def plain_server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with run_server(settings, plain_asgi=True) as running:
        yield running


async def test_back_to_back_commands_are_answered_in_order(server: RunningServer) -> None:
    """Inline commands (ping) must not overtake commands that run in a task (subscribe, presence)."""
    ws = await server.as_user("manager")
    frames = []
    for i in range(30):
        kind = ("subscribe", "ping", "presence", "unsubscribe", "ping")[i % 5]
        frame: dict[str, object] = {"type": kind, "id": i}
        if kind != "ping":
            frame["topic"] = f"notice:{1 + i % 2}"
        frames.append(frame)
    for frame in frames:
        await send(ws, frame)
    replies = [await recv(ws) for _ in frames]
    assert [r["id"] for r in replies] == list(range(30))
    assert [r["type"] for r in replies[:5]] == ["subscribed", "pong", "presence", "unsubscribed", "pong"]


@pytest.mark.hub(commands_per_s=10_000.0)
async def test_plain_asgi_path_speaks_the_same_protocol(plain_server: RunningServer) -> None:
    server = plain_server
    manager = await server.as_user("manager")
    chef = await server.as_user("chef")
    reply = await command(chef, {"type": "subscribe", "id": 1, "topic": "notice:1"})
    assert reply["type"] == "subscribed" and reply["seq"] == 0
    for i in range(5):
        await command(
            manager, {"type": "publish", "id": i, "topic": "notice:1", "event": "notice.posted", "data": {"n": i}}
        )
    assert [(await recv(chef))["data"]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    await chef.send(b"binary")
    assert (await recv(chef))["code"] == "bad_request"
    assert (await command(chef, {"type": "unsubscribe", "id": 2, "topic": "notice:1"}))["type"] == "unsubscribed"
    forbidden = await command(chef, {"type": "subscribe", "id": 3, "topic": "notice:2"})
    assert forbidden["code"] == "forbidden"


async def test_plain_asgi_path_closes_with_contract_codes(plain_server: RunningServer) -> None:
    import websockets

    ws = await websockets.connect(plain_server.ws_url)
    await send(ws, {"type": "hello", "token": "bad"})
    code, frames = await closed_with(ws)
    assert code == 4401 and frames[0]["code"] == "unauthorized"
    ws = await plain_server.as_user("chef")
    for _ in range(21):
        await ws.send("garbage")
    code, _ = await closed_with(ws)
    assert code == 4400
