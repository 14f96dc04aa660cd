"""Heartbeat (protocol.md §2.7), token expiry on open sockets, and logout closing sockets."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.rawclient import RawClient
from tests.support.server import RunningServer, closed_with, command
from tests.support.timing import MS


@pytest.mark.hub(heartbeat_s=0.3)
async def test_lost_heartbeat_closes_4408(server: RunningServer) -> None:
    client = await RawClient.connect(server.port)
    await client.send({"type": "hello", "token": await server.token("chef")})
    assert (await client.read_json())["type"] == "welcome"
    # The raw client never answers pings: after one interval for the ping and one for the pong, 4408.
    code, _ = await asyncio.wait_for(client.read_until_close(), 3000 * MS)
    assert code == 4408
    client.close()


@pytest.mark.hub(heartbeat_s=0.3)
async def test_client_answering_pings_stays_open(server: RunningServer) -> None:
    ws = await server.as_user("chef")  # the websockets client answers pings itself
    await asyncio.sleep(1500 * MS)  # five heartbeat intervals must pass for this test to mean anything
    assert (await command(ws, {"type": "ping", "id": 1}))["type"] == "pong"


async def test_refresh_command_extends_the_connection(server: RunningServer) -> None:
    login = await server.login("chef")
    ws = await server.connect(login["access_token"])
    fresh = await server.login("chef")
    reply = await command(ws, {"type": "refresh", "id": 4, "token": fresh["access_token"]})
    assert reply["type"] == "refreshed" and reply["id"] == 4 and reply["expires_at"] > 0
    other = await server.token("cook2")
    error = await command(ws, {"type": "refresh", "id": 5, "token": other})
    assert error["code"] == "forbidden"


async def test_refresh_with_bad_token_closes_4401(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    await ws.send('{"type":"refresh","id":6,"token":"nope"}')
    code, frames = await closed_with(ws)
    assert code == 4401 and frames[-1]["code"] == "unauthorized" and frames[-1]["id"] == 6


@pytest.mark.hub(access_ttl_s=1, heartbeat_s=0.5)
async def test_access_token_expiring_on_an_open_socket_closes_4401(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    code, frames = await closed_with(ws, timeout=4000 * MS)
    assert code == 4401
    assert frames[-1]["code"] == "unauthorized"


async def test_logout_closes_that_sessions_sockets_4401_only(server: RunningServer) -> None:
    first = await server.login("chef")
    second = await server.login("chef")
    ws_first = await server.connect(first["access_token"])
    ws_second = await server.connect(second["access_token"])
    async with server.client(first["access_token"]) as http:
        assert (await http.post("/api/auth/logout")).status_code == 200
        assert (await http.get("/api/me")).status_code == 401
    code, _ = await closed_with(ws_first)
    assert code == 4401
    assert (await command(ws_second, {"type": "ping", "id": 1}))["type"] == "pong"
