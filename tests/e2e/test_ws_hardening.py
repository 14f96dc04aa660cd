"""Sockets against bad input and abuse: foreign origins, invalid UTF-8, per-user caps, GPS acks that mean stored."""

from __future__ import annotations

import time

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.support.drivers import add_drivers
from tests.support.rawclient import RawClient
from tests.support.server import RunningServer, closed_with, recv, send
from tests.support.timing import MS, wait_until


@pytest.mark.hub(allowed_origins="https://kds.example.com, https://ops.example.com")
async def test_a_foreign_origin_is_refused_403_and_counted(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(server.ws_url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    assert b"not allowed" in refused.value.response.body
    token = await server.token("chef")
    allowed = await server.connect(token, origin="https://kds.example.com")  # a listed browser origin
    native = await server.connect(token)  # a native app sends no Origin at all
    await allowed.close()
    await native.close()
    async with server.client() as http:
        assert 'hub_refused_handshakes_total{reason="origin"} 1.0' in (await http.get("/metrics")).text


async def test_an_upgrade_to_any_other_path_is_refused(server: RunningServer) -> None:
    """Only ``/ws`` is the hub's socket: an upgrade anywhere else gets an HTTP refusal, not a connection."""
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(server.ws_url + "x")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await websockets.connect(server.ws_url.removesuffix("/ws") + "/api/auth/login")


@pytest.mark.hub(allowed_origins="https://kds.example.com")
async def test_rest_answers_cors_only_for_the_listed_origins(server: RunningServer) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with server.client() as http:
        ok = await http.options("/api/auth/login", headers={"Origin": "https://kds.example.com", **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://kds.example.com"
        bad = await http.options("/api/auth/login", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in bad.headers


async def test_invalid_utf8_in_a_text_frame_closes_1007(server: RunningServer) -> None:
    raw = await RawClient.connect(server.port)
    await raw.send({"type": "hello", "token": await server.token("chef")})
    assert (await raw.read_json())["type"] == "welcome"
    await raw.send_text(b'{"type":"ping","id":"\xff\xfe"}')
    code, frames = await raw.read_until_close()
    raw.close()
    assert code == 1007 and frames == []


@pytest.mark.hub(max_sockets_per_user=3)
async def test_a_user_holds_at_most_the_socket_cap(server: RunningServer) -> None:
    token = await server.token("chef")
    held = [await server.connect(token) for _ in range(3)]
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "hello", "id": "h", "token": token})
    code, frames = await closed_with(ws)
    assert code == 4429 and frames[0]["code"] == "rate_limited" and "3 open sockets" in frames[0]["message"]
    await held[0].close()
    await wait_until(lambda: _can_connect(server, token))
    other = await server.as_user("cook2")  # another user is not affected
    await other.close()


async def _can_connect(server: RunningServer, token: str) -> bool:
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "hello", "token": token})
    reply = await recv(ws)
    await ws.close()
    return bool(reply["type"] == "welcome")


@pytest.mark.hub(max_devices_per_user=2)
async def test_a_user_registers_at_most_the_device_cap(server: RunningServer) -> None:
    token = await server.token("driver1")
    for name in ("phone-a", "phone-b"):
        ws = await server.connect(token, device={"id": name, "kind": "driver"})
        await ws.close()
    again = await server.connect(token, device={"id": "phone-a", "kind": "driver"})  # a known device: fine
    await again.close()
    ws = await websockets.connect(server.ws_url)
    await send(ws, {"type": "hello", "token": token, "device": {"id": "phone-c", "kind": "driver"}})
    code, frames = await closed_with(ws)
    assert code == 4429 and frames[0]["code"] == "rate_limited" and "DELETE /api/devices" in frames[0]["message"]
    async with httpx.AsyncClient(base_url=server.http, headers={"Authorization": f"Bearer {token}"}) as http:
        devices = (await http.get("/api/devices")).json()["items"]
    assert sorted(d["device_id"] for d in devices) == ["phone-a", "phone-b"]


@pytest.mark.hub(gps_per_s=5)
async def test_gps_frames_dropped_for_rate_are_never_acked(server: RunningServer) -> None:
    (token,) = await add_drivers(server, 1)
    ws = await server.connect(token)
    now = time.time()
    for i in range(50):
        await send(ws, {"type": "gps", "id": i, "lat": 5.0, "lon": -4.0 + i / 1000, "ts": now - 50 + i})
    replies: dict[int, str] = {}
    while len(replies) < 50:
        frame = await recv(ws, 3000 * MS)
        if frame["type"] in ("ack", "error"):
            assert frame["type"] == "ack" or frame["code"] == "rate_limited", frame
            replies[frame["id"]] = frame["type"]
    acked = sorted(i for i, kind in replies.items() if kind == "ack")
    manager = await server.token("manager")
    async with server.client(manager) as http:
        me = (await http.get("/api/drivers/positions")).json()["items"]
        driver_id = me[0]["driver_id"]
        trail = (await http.get(f"/api/drivers/{driver_id}/trail")).json()["items"]
    stored = sorted(round((p["lon"] + 4.0) * 1000) for p in trail)
    assert acked == stored and 1 <= len(acked) < 50  # an ack means stored; every drop was told so
