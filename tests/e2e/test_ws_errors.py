"""Every error code and close code of protocol.md §2.5/§2.6, provoked from a real client."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets
from sqlalchemy import text

from app.db import Database
from app.security import TokenSigner
from tests.support.server import RunningServer, closed_with, command, recv, send
from tests.support.timing import MS


async def test_frame_over_limit_closes_1009(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    await ws.send('{"type":"ping","pad":"' + "x" * 70_000 + '"}')
    code, _ = await closed_with(ws)
    assert code == 1009


async def test_binary_frame_is_bad_request_and_connection_stays(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    await ws.send(b'{"type":"ping","id":1}')
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "bad_request" and "binary" in error["message"]
    assert (await command(ws, {"type": "ping", "id": 2}))["type"] == "pong"


async def test_invalid_json_is_bad_request(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    await ws.send("{not json")
    error = await recv(ws)
    assert (error["type"], error["code"], error["id"]) == ("error", "bad_request", None)


async def test_unknown_type_echoes_id(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    error = await command(ws, {"type": "dance", "id": "x1"})
    assert error["code"] == "bad_request" and error["id"] == "x1" and "dance" in error["message"]


async def test_missing_field_is_bad_request(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    error = await command(ws, {"type": "subscribe", "id": 7})
    assert error["code"] == "bad_request" and "topic" in error["message"]


async def test_first_frame_not_hello_closes_4400(server: RunningServer) -> None:
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "subscribe", "id": 1, "topic": "shift:1"})
    code, frames = await closed_with(ws)
    assert code == 4400
    assert frames and frames[0]["code"] == "bad_request"


async def test_first_frame_not_json_closes_4400(server: RunningServer) -> None:
    ws = await websockets.connect(server.ws_url)
    await ws.send("hello?")
    code, _ = await closed_with(ws)
    assert code == 4400


@pytest.mark.hub(hello_timeout_s=0.3)
async def test_no_hello_in_time_closes_4408(server: RunningServer) -> None:
    ws = await websockets.connect(server.ws_url)
    started = time.monotonic()
    code, _ = await closed_with(ws, timeout=3000 * MS)
    assert code == 4408
    assert time.monotonic() - started < 2.0


async def test_bad_token_gets_unauthorized_then_4401(server: RunningServer) -> None:
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "hello", "token": "not-a-token", "id": "h"})
    code, frames = await closed_with(ws)
    assert code == 4401
    assert frames == [{"type": "error", "id": "h", "code": "unauthorized", "message": frames[0]["message"]}]


async def test_expired_token_gets_unauthorized_then_4401(server: RunningServer) -> None:
    login = await server.login("chef")
    # A token signed with the server's key whose lifetime ended a minute ago.
    signer = TokenSigner(server.settings.signing_key, access_ttl_s=60)
    claims = signer.verify(login["access_token"])
    expired, _ = signer.issue(user=login["user"], session_id=claims.session_id, now=time.time() - 120)
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "hello", "token": expired})
    code, frames = await closed_with(ws)
    assert code == 4401
    assert frames[0]["code"] == "unauthorized" and "expired" in frames[0]["message"]


async def test_21_invalid_frames_in_a_row_close_4400(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    for _ in range(21):
        await ws.send("garbage")
    code, frames = await closed_with(ws)
    assert code == 4400
    assert len([f for f in frames if f["code"] == "bad_request"]) == 21


async def test_20_invalid_frames_then_a_valid_one_keep_the_connection(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    for _ in range(2):
        for _ in range(20):
            await ws.send("garbage")
        assert (await command(ws, {"type": "ping", "id": "ok"}))["type"] == "pong"


async def test_unknown_topic_family_is_not_found(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    error = await command(ws, {"type": "subscribe", "id": 1, "topic": "pizza:1"})
    assert error["code"] == "not_found"


async def test_staff_of_other_truck_is_forbidden(server: RunningServer) -> None:
    chef = await server.token("chef")
    async with server.client(chef) as http:
        shift = (await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})).json()
    ws = await server.as_user("cook2")
    error = await command(ws, {"type": "subscribe", "id": 1, "topic": f"shift:{shift['id']}"})
    assert error == {"type": "error", "id": 1, "code": "forbidden", "message": error["message"]}
    error = await command(ws, {"type": "subscribe", "id": 2, "topic": "notice:1"})
    assert error["code"] == "forbidden"
    assert (await command(ws, {"type": "ping", "id": 3}))["type"] == "pong"  # still open


@pytest.mark.hub(commands_per_s=5.0)
async def test_over_command_rate_is_rate_limited_and_stays_open(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    for i in range(10):
        await send(ws, {"type": "ping", "id": i})
    replies = [await recv(ws) for _ in range(6)]  # 5 pongs + one rate_limited (later rejections are silent)
    assert sorted(r["type"] for r in replies) == ["error"] + ["pong"] * 5
    assert next(r for r in replies if r["type"] == "error")["code"] == "rate_limited"
    await asyncio.sleep(1100 * MS)  # the bucket refills with time: a rate test needs time to pass
    assert (await command(ws, {"type": "ping", "id": "after"}))["type"] == "pong"


@pytest.mark.hub(commands_per_s=5.0)
async def test_sustained_abuse_closes_4429(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    for i in range(60):
        await send(ws, {"type": "ping", "id": i})
    code, frames = await closed_with(ws)
    assert code == 4429
    assert any(f.get("code") == "rate_limited" for f in frames)


async def test_server_fault_is_internal_and_connection_stays(server: RunningServer) -> None:
    """Break the database under the running server: the authorizer's query fails, the client gets
    ``internal`` (no details), and the connection survives."""
    ws = await server.as_user("chef")
    db = Database(server.settings.database_url)  # a connection of the test's own, on the same database
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE shifts RENAME TO shifts_gone"))
    finally:
        await db.close()
    error = await command(ws, {"type": "subscribe", "id": 9, "topic": "shift:1"})
    assert error["code"] == "internal" and error["message"] == "internal error"
    assert (await command(ws, {"type": "ping", "id": 10}))["type"] == "pong"


async def test_error_frames_are_counted(server: RunningServer) -> None:
    ws = await server.as_user("chef")
    await ws.send("garbage")
    await recv(ws)
    async with server.client() as http:
        text = (await http.get("/metrics")).text
    assert 'hub_errors_total{code="bad_request"} 1.0' in text
    assert 'hub_frames_received_total{type="invalid"} 1.0' in text
