"""Driver GPS over the socket: ingest rules, conflated fan-out, the fleet snapshot, REST positions (issue 5)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.support.drivers import add_drivers
from tests.support.kitchen import subscribe
from tests.support.rawclient import RawClient
from tests.support.server import RunningServer, command, recv, send
from tests.support.timing import MS

DRIVER1, DRIVER2 = 5, 6  # seeded user ids


def ping(lat: float, lon: float, ts: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "gps", "lat": lat, "lon": lon, "ts": time.time() if ts is None else ts, **extra}


async def positions_of(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    frames = [await recv(ws) for _ in range(count)]
    assert all(f["type"] == "event" and f["event"] == "gps.position" for f in frames), frames
    return [f["data"] for f in frames]


async def test_a_ping_reaches_the_fleet_and_the_driver_topic_and_rest(server: RunningServer) -> None:
    manager = await server.as_user("manager")
    driver = await server.as_user("driver1")
    fleet = await subscribe(manager, "gps:fleet")
    assert fleet["conflated"] is True and fleet["recovered"] is False
    await subscribe(driver, f"gps:driver:{DRIVER1}")
    ts = time.time()
    await send(driver, {**ping(5.36, -4.01, ts, accuracy=8.5, speed=11.2, heading=270), "id": "p1"})
    replies = [await recv(driver) for _ in range(2)]  # the ack, and its own position on gps:driver:5
    assert {"type": "ack", "id": "p1"} in replies
    expected = {
        "driver_id": DRIVER1,
        "lat": 5.36,
        "lon": -4.01,
        "ts": ts,
        "accuracy": 8.5,
        "speed": 11.2,
        "heading": 270,
    }
    (seen_by_fleet,) = await positions_of(manager, 1)
    (seen_by_driver,) = [r["data"] for r in replies if r["type"] == "event"]
    assert seen_by_fleet == seen_by_driver == expected
    await send(driver, ping(5.37, -4.02))
    (second,) = await positions_of(manager, 1)
    assert second["lat"] == 5.37
    async with server.client(await server.token("manager")) as http:
        listed = (await http.get("/api/drivers/positions")).json()["items"]
        near = (await http.get("/api/drivers/nearby", params={"lat": 5.37, "lon": -4.02, "radius_m": 500})).json()
        far = (await http.get("/api/drivers/nearby", params={"lat": 48.85, "lon": 2.35, "radius_m": 5000})).json()
        trail = (await http.get(f"/api/drivers/{DRIVER1}/trail")).json()["items"]
        bad = await http.get("/api/drivers/nearby", params={"lat": 95, "lon": 0, "radius_m": 10})
        assert bad.status_code == 400
        assert (await http.get("/api/drivers/nearby", params={"lat": "x", "lon": 0, "radius_m": 1})).status_code == 400
        assert (await http.get("/api/drivers/3/trail")).status_code == 404  # user 3 is a cook, not a driver
    assert [p["driver_id"] for p in listed] == [DRIVER1] and listed[0]["lat"] == 5.37
    assert [p["driver_id"] for p in near["items"]] == [DRIVER1] and near["items"][0]["distance_m"] < 1
    assert far["items"] == []
    assert [(p["lat"], p["lon"]) for p in trail] == [(5.36, -4.01), (5.37, -4.02)]
    async with server.client(await server.token("chef")) as chef:
        assert (await chef.get("/api/drivers/positions")).status_code == 403
    for ws in (manager, driver):
        await ws.close()


async def test_nearby_orders_drivers_nearest_first(server: RunningServer) -> None:
    one, two = await server.as_user("driver1"), await server.as_user("driver2")
    await command(one, {**ping(5.3600, -4.0083), "id": 1})  # Harbor Square
    await command(two, {**ping(5.3450, -3.9900), "id": 1})  # Tech Park, ~2.6 km away
    async with server.client(await server.token("manager")) as http:
        found = (await http.get("/api/drivers/nearby", params={"lat": 5.346, "lon": -3.991, "radius_m": 5000})).json()
    assert [p["driver_id"] for p in found["items"]] == [DRIVER2, DRIVER1]
    assert found["items"][0]["distance_m"] < found["items"][1]["distance_m"] < 5000
    for ws in (one, two):
        await ws.close()


async def test_new_fleet_subscriber_first_gets_every_live_driver(server: RunningServer) -> None:
    one, two = await server.as_user("driver1"), await server.as_user("driver2")
    await command(one, {**ping(1.0, 1.0, time.time() - 1), "id": 1})
    await command(one, {**ping(1.5, 1.5), "id": 2})
    await command(two, {**ping(2.0, 2.0), "id": 1})
    dashboard = await server.as_user("manager")
    reply = await subscribe(dashboard, "gps:fleet")
    first = [await recv(dashboard) for _ in range(2)]
    assert [f["seq"] for f in first] == [reply["seq"] + 1, reply["seq"] + 2]
    assert {(f["data"]["driver_id"], f["data"]["lat"]) for f in first} == {(DRIVER1, 1.5), (DRIVER2, 2.0)}
    await send(two, ping(2.5, 2.5))
    live = await recv(dashboard)
    assert live["data"]["lat"] == 2.5 and live["seq"] > first[-1]["seq"]
    own = await server.as_user("driver1")
    mine = await subscribe(own, f"gps:driver:{DRIVER1}")
    (current,) = await positions_of(own, 1)
    assert current["lat"] == 1.5 and mine["conflated"] is True
    for ws in (one, two, dashboard, own):
        await ws.close()


@pytest.mark.parametrize(
    "frame",
    [
        ping(91.0, 0.0),
        ping(-90.5, 0.0),
        ping(0.0, 180.5),
        {"type": "gps", "lat": "5.3", "lon": 1.0, "ts": 1.0},
        {"type": "gps", "lat": 5.3, "lon": 1.0},
        {"type": "gps", "lat": 5.3, "lon": 1.0, "ts": time.time() + 3600},
        {"type": "gps", "batch": [{"lat": 1.0, "lon": 1.0, "ts": time.time() - 200 + i} for i in range(101)]},
        {"type": "gps", "batch": []},
        {"type": "gps", "lat": 5.3, "lon": 1.0, "ts": 1.0, "heading": 400},
    ],
)
async def test_bad_pings_are_refused_and_nothing_is_stored(server: RunningServer, frame: dict[str, Any]) -> None:
    driver = await server.as_user("driver1")
    reply = await command(driver, {**frame, "id": "bad"})
    assert reply["type"] == "error" and reply["code"] == "bad_request", reply
    for raw in ('{"type":"gps","lat":NaN,"lon":1,"ts":1}', '{"type":"gps","lat":1,"lon":Infinity,"ts":1}'):
        await driver.send(raw)
        error = await recv(driver)
        assert error["type"] == "error" and error["code"] == "bad_request"
    assert (await command(driver, {"type": "ping", "id": "alive"}))["type"] == "pong"  # still open
    async with server.client(await server.token("manager")) as http:
        assert (await http.get("/api/drivers/positions")).json()["items"] == []
        assert (await http.get(f"/api/drivers/{DRIVER1}/trail")).json()["items"] == []
    await driver.close()


async def test_only_drivers_stream_and_see_their_own_topic(server: RunningServer) -> None:
    staff = await server.as_user("chef")
    refused = await command(staff, {**ping(1.0, 1.0), "id": 1})
    assert refused["code"] == "forbidden"
    fleet = await command(staff, {"type": "subscribe", "id": 2, "topic": "gps:fleet"})
    assert fleet["type"] == "error" and fleet["code"] == "forbidden"
    driver = await server.as_user("driver1")
    other = await command(driver, {"type": "subscribe", "id": 3, "topic": f"gps:driver:{DRIVER2}"})
    assert other["code"] == "forbidden"
    assert (await command(driver, {"type": "subscribe", "id": 4, "topic": "gps:fleet"}))["code"] == "forbidden"
    for ws in (staff, driver):
        await ws.close()


@pytest.mark.hub(gps_per_s=5.0)
async def test_a_driver_over_its_rate_is_told_and_the_right_pings_are_kept(server: RunningServer) -> None:
    driver = await server.as_user("driver1")
    base = time.time() - 10
    for i in range(10):  # one burst: the bucket holds 5
        await send(driver, {**ping(1.0, 1.0 + i / 100, base + i), "id": i})
    replies = [await recv(driver) for _ in range(6)]  # 5 acks, then one rate_limited (and no more)
    assert [r["type"] for r in replies] == ["ack"] * 5 + ["error"]
    assert replies[-1]["code"] == "rate_limited" and replies[-1]["id"] == 5
    assert (await command(driver, {"type": "ping", "id": "still-open"}))["type"] == "pong"
    async with server.client(await server.token("manager")) as http:
        trail = (await http.get(f"/api/drivers/{DRIVER1}/trail")).json()["items"]
        metrics = (await http.get("/metrics")).text
    assert [p["ts"] for p in trail] == [base + i for i in range(5)]
    assert 'hub_dropped_frames_total{reason="gps_rate"} 5.0' in metrics
    assert "hub_gps_positions_total 5.0" in metrics
    await driver.close()


async def test_older_pings_are_ignored_and_a_batch_fans_out_only_its_newest(server: RunningServer) -> None:
    driver = await server.as_user("driver1")
    dashboard = await server.as_user("manager")
    await subscribe(dashboard, "gps:fleet")
    now = time.time()
    await command(driver, {**ping(1.0, 1.0, now), "id": 1})
    await command(driver, {**ping(9.0, 9.0, now - 5), "id": 2})  # older than the last: ignored
    batch = [{"lat": 2.0 + i / 10, "lon": 2.0, "ts": now + 1 + i} for i in range(5)]
    assert (await command(driver, {"type": "gps", "id": 3, "batch": batch}))["type"] == "ack"
    got = await positions_of(dashboard, 2)
    assert [p["lat"] for p in got] == [1.0, 2.4]  # the stale ping never went out; the batch sent its newest
    async with server.client(await server.token("manager")) as http:
        trail = (await http.get(f"/api/drivers/{DRIVER1}/trail")).json()["items"]
        metrics = (await http.get("/metrics")).text
    assert [p["lat"] for p in trail] == [1.0, 2.0, 2.1, 2.2, 2.3, 2.4]
    assert 'hub_dropped_frames_total{reason="gps_stale"} 1.0' in metrics
    for ws in (driver, dashboard):
        await ws.close()


@pytest.mark.hub(send_buffer_bytes=4096, gps_per_s=5.0)
async def test_a_slow_fleet_dashboard_gets_the_newest_of_each_driver_and_stays_connected(
    server: RunningServer,
) -> None:
    """50 drivers at 5 pings/s; a dashboard stops reading for 2 s, then reads: newest of all 50, no 4500."""
    tokens = await add_drivers(server, 50)
    drivers = [await server.connect(t) for t in tokens]
    slow = await RawClient.connect(server.port, rcvbuf=4096, limit=1024)
    await slow.send({"type": "hello", "token": await server.token("manager")})
    assert (await slow.read_json())["type"] == "welcome"
    await slow.send({"type": "subscribe", "id": 1, "topic": "gps:fleet"})
    assert (await slow.read_json())["type"] == "subscribed"
    sent: dict[int, float] = {}

    async def drive(index: int, ws: ClientConnection) -> None:
        for step in range(15):  # 3 s at 5/s
            ts = time.time()
            await send(ws, ping(10 + index / 100, 20 + step / 100, ts))
            sent[index] = ts
            await asyncio.sleep(200 * MS)

    await asyncio.gather(*(drive(i, ws) for i, ws in enumerate(drivers)))
    async with server.client(await server.token("manager")) as http:
        latest = {p["driver_id"]: p for p in (await http.get("/api/drivers/positions")).json()["items"]}
        metrics = (await http.get("/metrics")).text
    assert len(latest) == 50 and all(p["lon"] == pytest.approx(20.14) for p in latest.values())
    dropped = next(
        line for line in metrics.splitlines() if line.startswith('hub_dropped_frames_total{reason="conflated"}')
    )
    assert float(dropped.split()[-1]) > 0  # the hub conflated instead of queueing every ping

    received: dict[int, dict[str, Any]] = {}
    frames = 0
    async with asyncio.timeout(5):
        while len(received) < 50 or any(p["lon"] != latest[d]["lon"] for d, p in received.items()):
            frame = await slow.read_json()
            frames += 1
            received[frame["data"]["driver_id"]] = frame["data"]
    assert frames < 50 * 15 / 2, frames  # far fewer than the 750 pings: a bounded backlog, not a queue
    await slow.send({"type": "ping", "id": "alive"})
    while (reply := await slow.read_json())["type"] == "event":
        pass
    assert reply["type"] == "pong"  # not disconnected for a GPS backlog
    assert 'hub_disconnects_total{by="server",code="4500"} 0.0' in metrics
    slow.close()
    for ws in drivers:
        await ws.close()
