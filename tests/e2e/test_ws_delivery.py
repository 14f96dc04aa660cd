"""Delivery guarantees: subscribe/replay/live without gap or duplicate, and slow consumers (protocol.md §2.2, §3)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.rawclient import RawClient
from tests.support.server import RunningServer, command, recv
from tests.support.timing import MS


async def _open_shift(server: RunningServer, token: str) -> int:
    async with server.client(token) as http:
        response = await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})
    assert response.status_code == 201, response.text
    shift_id: int = response.json()["id"]
    return shift_id


async def _toggle(server: RunningServer, token: str, shift_id: int, times: int, *, start: int = 0) -> list[str]:
    """Pause/resume alternately (step ``start`` onwards); returns the event names in order."""
    names = []
    async with server.client(token) as http:
        for i in range(start, start + times):
            action = "pause" if i % 2 == 0 else "resume"
            assert (await http.post(f"/api/shifts/{shift_id}/{action}")).status_code == 200
            names.append("shift.paused" if action == "pause" else "shift.resumed")
    return names


async def test_rest_change_is_delivered_before_the_call_returns(server: RunningServer) -> None:
    token = await server.token("chef")
    shift_id = await _open_shift(server, token)
    ws = await server.connect(token)
    reply = await command(ws, {"type": "subscribe", "id": 1, "topic": f"shift:{shift_id}"})
    assert reply["seq"] == 1  # shift.checked_in
    await _toggle(server, token, shift_id, 1)
    event = await recv(ws, timeout=200 * MS)  # already queued when the REST call returned
    assert event["event"] == "shift.paused" and event["data"]["status"] == "paused" and event["seq"] == 2


async def test_resume_with_since_replays_exactly_the_missed_events_then_live(server: RunningServer) -> None:
    token = await server.token("chef")
    shift_id = await _open_shift(server, token)
    topic = f"shift:{shift_id}"
    ws = await server.connect(token)
    first = await command(ws, {"type": "subscribe", "id": 1, "topic": topic})
    await _toggle(server, token, shift_id, 1)
    seen = await recv(ws)
    await ws.close()

    missed = await _toggle(server, token, shift_id, 3, start=1)

    ws = await server.connect(token)
    since = {"seq": seen["seq"], "epoch": first["epoch"]}
    reply = await command(ws, {"type": "subscribe", "id": 2, "topic": topic, "since": since})
    assert reply["recovered"] is True and reply["replayed"] == 3 and reply["seq"] == seen["seq"] + 3
    replayed = [await recv(ws) for _ in range(3)]
    assert [e["seq"] for e in replayed] == [seen["seq"] + 1, seen["seq"] + 2, seen["seq"] + 3]
    assert [e["event"] for e in replayed] == missed
    await _toggle(server, token, shift_id, 1, start=4)
    live = await recv(ws)
    assert live["seq"] == seen["seq"] + 4
    with pytest.raises(TimeoutError):
        await recv(ws, timeout=200 * MS)  # nothing twice


async def test_since_with_another_epoch_is_not_recovered(server: RunningServer) -> None:
    token = await server.token("chef")
    shift_id = await _open_shift(server, token)
    await _toggle(server, token, shift_id, 2)
    ws = await server.connect(token)
    reply = await command(
        ws, {"type": "subscribe", "id": 1, "topic": f"shift:{shift_id}", "since": {"seq": 1, "epoch": "old"}}
    )
    assert reply["recovered"] is False and "replayed" not in reply and reply["seq"] == 3  # check-in + 2
    with pytest.raises(TimeoutError):
        await recv(ws, timeout=200 * MS)


@pytest.mark.hub(history_size=2)
async def test_since_older_than_history_is_not_recovered(server: RunningServer) -> None:
    token = await server.token("chef")
    shift_id = await _open_shift(server, token)
    ws = await server.connect(token)
    first = await command(ws, {"type": "subscribe", "id": 1, "topic": f"shift:{shift_id}"})
    await _toggle(server, token, shift_id, 4)
    since = {"seq": 0, "epoch": first["epoch"]}
    ws2 = await server.connect(token)
    reply = await command(ws2, {"type": "subscribe", "id": 2, "topic": f"shift:{shift_id}", "since": since})
    assert reply["recovered"] is False and reply["seq"] == 5


async def test_subscribe_twice_is_idempotent_and_unsubscribe_stops_events(server: RunningServer) -> None:
    token = await server.token("chef")
    shift_id = await _open_shift(server, token)
    topic = f"shift:{shift_id}"
    ws = await server.connect(token)
    first = await command(ws, {"type": "subscribe", "id": 1, "topic": topic})
    again = await command(ws, {"type": "subscribe", "id": 2, "topic": topic})
    assert again["type"] == "subscribed" and again["recovered"] is False and again["seq"] == first["seq"]
    await _toggle(server, token, shift_id, 1)
    assert (await recv(ws))["seq"] == first["seq"] + 1
    with pytest.raises(TimeoutError):
        await recv(ws, timeout=200 * MS)  # delivered once, not twice
    assert await command(ws, {"type": "unsubscribe", "id": 3, "topic": topic}) == {
        "type": "unsubscribed",
        "id": 3,
        "topic": topic,
    }
    await _toggle(server, token, shift_id, 1, start=1)
    with pytest.raises(TimeoutError):
        await recv(ws, timeout=200 * MS)


async def test_publish_notice_reaches_truck_devices_with_seq(server: RunningServer) -> None:
    manager = await server.as_user("manager")
    chef = await server.as_user("chef")
    await command(chef, {"type": "subscribe", "id": 1, "topic": "notice:1"})
    reply = await command(
        manager,
        {"type": "publish", "id": 6, "topic": "notice:1", "event": "notice.posted", "data": {"text": "86 the fries"}},
    )
    assert reply == {"type": "published", "id": 6, "topic": "notice:1", "seq": 1}
    event = await recv(chef)
    assert (event["event"], event["data"], event["seq"]) == ("notice.posted", {"text": "86 the fries"}, 1)
    error = await command(chef, {"type": "publish", "id": 7, "topic": "notice:1", "event": "notice.posted", "data": {}})
    assert error["code"] == "forbidden"
    error = await command(
        manager, {"type": "publish", "id": 8, "topic": "shift:1", "event": "shift.paused", "data": {}}
    )
    assert error["code"] in ("forbidden", "not_found")


@pytest.mark.hub(max_subscriptions=2)
async def test_subscription_limit(server: RunningServer) -> None:
    ws = await server.as_user("manager")
    for i, truck in enumerate((1, 2)):
        assert (await command(ws, {"type": "subscribe", "id": i, "topic": f"notice:{truck}"}))["type"] == "subscribed"
    error = await command(ws, {"type": "subscribe", "id": 9, "topic": "gps:fleet"})
    assert error["code"] == "rate_limited" and "2 subscriptions" in error["message"]


async def test_presence_lists_devices_on_a_topic(server: RunningServer) -> None:
    tablet = await server.as_user("chef", device={"id": "tablet-7", "kind": "kds", "app": "truckkds/2.3"})
    await command(tablet, {"type": "subscribe", "id": 1, "topic": "notice:1"})
    manager = await server.as_user("manager")
    reply = await command(manager, {"type": "presence", "id": 3, "topic": "notice:1"})
    assert [(m["device_id"], m["kind"], m["user_id"]) for m in reply["members"]] == [("tablet-7", "kds", 3)]
    assert set(reply["members"][0]) == {"conn_id", "user_id", "device_id", "kind", "since"}


@pytest.mark.hub(outbound_queue=16, commands_per_s=10_000.0)
async def test_slow_consumer_is_closed_4500_while_others_keep_up(server: RunningServer) -> None:
    manager = await server.as_user("manager")
    healthy = await server.as_user("chef")
    await command(healthy, {"type": "subscribe", "id": 1, "topic": "notice:1"})
    slow = await RawClient.connect(server.port, rcvbuf=4096)
    await slow.send({"type": "hello", "token": await server.token("chef")})
    assert (await slow.read_json())["type"] == "welcome"
    await slow.send({"type": "subscribe", "id": 1, "topic": "notice:1"})
    assert (await slow.read_json())["type"] == "subscribed"
    # The slow client now stops reading. Publish big notices until its buffers overflow: the kernel
    # hides several MB on loopback, so keep going (bounded) until the hub reports the 4500.
    payload = {"text": "x" * 50_000}
    latencies: list[float] = []
    published = 0
    async with server.client() as http:
        while published < 600:
            for _ in range(20):
                started = time.perf_counter()
                frame = {"type": "publish", "id": published, "topic": "notice:1", "event": "notice.posted"}
                await command(manager, {**frame, "data": payload})
                published += 1
                event = await recv(healthy, timeout=1000 * MS)
                latencies.append(time.perf_counter() - started)
                assert event["seq"] == published  # the healthy subscriber gets every event, in order
            if 'hub_disconnects_total{by="server",code="4500"} 1.0' in (await http.get("/metrics")).text:
                break
    assert max(latencies) < 1.0, max(latencies)
    code, frames = await asyncio.wait_for(slow.read_until_close(), 10_000 * MS)
    assert code == 4500
    seqs = [f["seq"] for f in frames if f["type"] == "event"]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < published  # a gap-free prefix, then the close
    slow.close()
    async with server.client() as http:
        metrics = (await http.get("/metrics")).text
    assert 'hub_disconnects_total{by="server",code="4500"} 1.0' in metrics
    assert 'hub_dropped_frames_total{reason="slow_consumer"} 0.0' not in metrics
