"""Health, readiness, metrics names and request ids (protocol.md §4, §6), and devices."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest

from app.demo import run_demo
from app.settings import Settings
from tests.support.kitchen import events_until, open_shift, subscribe
from tests.support.server import RunningServer, command, run_server
from tests.support.timing import wait_until

CONTRACT_METRICS = [
    "hub_connections",
    "hub_connections_opened_total",
    "hub_frames_received_total",
    "hub_frames_sent_total",
    "hub_events_published_total",
    "hub_publish_to_send_seconds",
    "hub_dropped_frames_total",
    "hub_disconnects_total",
    "hub_gps_positions_total",
    "http_requests_total",
    "http_request_duration_seconds",
]


async def test_health_and_readiness(server: RunningServer) -> None:
    async with server.client() as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_readyz_names_the_failed_dependency(settings: Settings, tmp_path: object) -> None:
    broken = replace(settings, database_url="sqlite+aiosqlite:////nonexistent-dir/hub.db")
    async with run_server(broken) as server, server.client() as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database"] and ready.json()["checks"]["broker"] == "ok"


async def test_metrics_have_contract_names_and_template_routes(server: RunningServer) -> None:
    ws = await server.as_user("chef", device={"id": "t1", "kind": "kds"})
    await command(ws, {"type": "ping", "id": 1})
    async with server.client(await server.token("chef")) as http:
        await http.post("/api/shifts", json={"truck_id": 1, "location_id": 1})
        await http.post("/api/shifts/1/pause")
        text = (await http.get("/metrics")).text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for name in CONTRACT_METRICS:
        assert any(n == name or n.startswith(name + "_") for n in names), name
    assert 'route="/api/shifts/{id:int}/pause"' in text and "/api/shifts/1/pause" not in text
    assert 'hub_connections{kind="kds"} 1.0' in text
    assert 'hub_events_published_total{family="shift"} 2.0' in text
    assert not [n for n in names if n.endswith("_created")], "a _created series per counter is noise to a scraper"


async def test_request_id_in_and_out(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    async with server.client() as http:
        echoed = await http.get("/healthz", headers={"x-request-id": "abc-123"})
        fresh = await http.get("/healthz")
    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(fresh.headers["x-request-id"]) >= 8


async def test_log_lines_are_json_with_ids(server: RunningServer) -> None:
    from app.logs import JsonFormatter, request_id_var

    record = logging.LogRecord("hub.connection", logging.INFO, "", 0, "connection open", (), None)
    record.conn_id = "node-abc"
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["conn_id"] == "node-abc" and line["request_id"] == "req-1" and line["msg"] == "connection open"


async def test_devices_registered_with_last_seen_and_online(server: RunningServer) -> None:
    token = await server.token("chef")
    ws = await server.connect(token, device={"id": "tablet-7", "kind": "kds", "app": "truckkds/2.3"})
    async with server.client(token) as http:

        async def registered() -> bool:  # written behind the hello, in the next batch
            return bool((await http.get("/api/devices")).json()["items"])

        await wait_until(registered)
        items = (await http.get("/api/devices")).json()["items"]
        assert items == [
            {
                "device_id": "tablet-7",
                "kind": "kds",
                "app": "truckkds/2.3",
                "last_seen": items[0]["last_seen"],
                "online": True,
                "seen_via": "socket",
                "push_token_set": False,
            }
        ]
        await ws.close()

        async def offline() -> bool:
            return not (await http.get("/api/devices")).json()["items"][0]["online"]

        await wait_until(offline)
        ws = await server.connect(token, device={"id": "tablet-7", "kind": "kds"})

        async def online() -> bool:
            return bool((await http.get("/api/devices")).json()["items"][0]["online"])

        await wait_until(online)
        assert (await http.delete("/api/devices/tablet-7")).status_code == 204
        assert (await http.get("/api/devices")).json()["items"] == []
        assert (await http.delete("/api/devices/tablet-7")).status_code == 404
    from tests.support.server import closed_with

    code, _ = await closed_with(ws)
    assert code == 4401


async def test_device_stays_online_until_its_last_socket_closes(server: RunningServer) -> None:
    token = await server.token("chef")
    device = {"id": "tablet-9", "kind": "kds"}
    first = await server.connect(token, device=device)
    second = await server.connect(token, device=device)
    async with server.client(token) as http:

        async def online() -> bool:
            return bool((await http.get("/api/devices")).json()["items"][0]["online"])

        await first.close()

        async def first_close_processed() -> bool:
            return 'hub_disconnects_total{by="client",code="1000"} 1.0' in (await http.get("/metrics")).text

        await wait_until(first_close_processed)
        assert await online()  # the device still has a socket
        await second.close()

        async def offline() -> bool:
            return not await online()

        await wait_until(offline)


async def test_demo_producer_places_orders_a_tablet_sees(server: RunningServer) -> None:
    """``make demo`` against a live server: its tickets reach a subscribed tablet."""
    token = await server.token("chef")
    async with server.client(token) as http:
        sid = await open_shift(http)
        ws = await server.connect(token)
        await subscribe(ws, f"kds:{sid}")
        await asyncio.to_thread(run_demo, server.http, 0.01, 4)
        created = await events_until(ws, lambda e: e["event"] == "ticket.created" and e["data"]["number"] == 4)
        await ws.close()
    assert [e["data"]["number"] for e in created if e["event"] == "ticket.created"] == [1, 2, 3, 4]
