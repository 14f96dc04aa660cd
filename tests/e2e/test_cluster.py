"""Two hub processes on two ports, one Postgres database, one Redis (issue 6, "Tests with real processes")."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from app.settings import Settings
from tests.conftest import CLUSTER_HEARTBEAT_S
from tests.support.kitchen import open_shift, order, subscribe
from tests.support.nodes import HubProcess, hub_process
from tests.support.server import closed_with, command, recv
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
async def nodes(cluster_settings: Settings) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    async with (
        hub_process(replace(cluster_settings, node_id="node-a")) as a,
        hub_process(replace(cluster_settings, node_id="node-b")) as b,
    ):
        yield a, b


async def _tickets(ws: Any, count: int, timeout: float = 10_000 * MS) -> list[dict[str, Any]]:
    """The next ``count`` kds events (every one checked to be an event)."""
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            frame = await recv(ws, timeout)
            assert frame["type"] == "event", frame
            frames.append(frame)
    return frames


async def test_tablet_on_a_receives_ticket_ordered_through_b(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    async with b.client(await b.token("manager")) as http_b:
        shift_id = await open_shift(http_b)
        tablet = await a.as_user("chef")
        assert (await command(tablet, {"type": "ping", "id": 0}))["type"] == "pong"
        top = await subscribe(tablet, f"kds:{shift_id}")
        placed = await order(http_b, shift_id, (8, 2))
        assert placed.status_code == 201, placed.text
        (event,) = await _tickets(tablet, 1)
    assert event["event"] == "ticket.created" and event["data"]["id"] == placed.json()["id"]
    assert event["seq"] == top["seq"] + 1


async def test_tablet_resumes_on_the_other_node_and_misses_nothing(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    token = await a.token("manager")
    async with a.client(token) as http_a, b.client(token) as http_b:
        shift_id = await open_shift(http_a, max_orders_per_slot=1000)
        tablet = await a.as_user("chef")
        await subscribe(tablet, f"kds:{shift_id}")
        assert (await order(http_b, shift_id, (8, 1))).status_code == 201
        (last,) = await _tickets(tablet, 1)
        await tablet.close()
        missed = []
        for http in (http_a, http_b, http_a):  # the tablet is away: three tickets through both nodes
            response = await order(http, shift_id, (9, 1))
            assert response.status_code == 201
            missed.append(response.json()["id"])

        again = await b.as_user("chef")
        resumed = await subscribe(again, f"kds:{shift_id}", since={"seq": last["seq"], "epoch": last["epoch"]})
        assert resumed["recovered"] is True and resumed["replayed"] == 3
        replay = await _tickets(again, 3)
        assert [f["data"]["id"] for f in replay] == missed
        assert [f["seq"] for f in replay] == [last["seq"] + 1, last["seq"] + 2, last["seq"] + 3]
        live = await order(http_a, shift_id, (8, 1))  # then live, through the node it left
        (event,) = await _tickets(again, 1)
        assert event["data"]["id"] == live.json()["id"] and event["seq"] == last["seq"] + 4


async def test_presence_on_a_lists_a_device_connected_to_b(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    async with a.client(await a.token("manager")) as http:
        shift_id = await open_shift(http)
    device = {"id": "tablet-b1", "kind": "kds", "app": "kds/1.0"}
    on_b = await b.connect(await b.token("chef"), device=device)
    await subscribe(on_b, f"kds:{shift_id}")
    manager = await a.as_user("manager")
    reply = await command(manager, {"type": "presence", "id": 1, "topic": f"kds:{shift_id}"})
    assert [(m["device_id"], m["kind"]) for m in reply["members"]] == [("tablet-b1", "kds")]
    assert reply["members"][0]["conn_id"].startswith("node-b-")


async def test_logout_on_a_closes_the_session_socket_on_b(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    tokens = await a.login("chef")
    on_b = await b.connect(tokens["access_token"])
    async with a.client(tokens["access_token"]) as http:
        assert (await http.post("/api/auth/logout")).status_code == 200
    code, frames = await closed_with(on_b, timeout=5000 * MS)
    assert code == 4401 and frames[-1]["code"] == "unauthorized"


async def test_sigkill_of_node_b_loses_nothing_acknowledged(nodes: tuple[HubProcess, HubProcess]) -> None:
    """Orders stream through B while a tablet watches on A; B is killed -9 mid-stream. Every order B
    acknowledged (201) reaches the tablet and the KDS snapshot; B's sockets vanish from presence."""
    a, b = nodes
    token = await a.token("manager")
    async with a.client(token) as http_a, b.client(token) as http_b:
        shift_id = await open_shift(http_a, max_orders_per_slot=1000)
        tablet = await a.as_user("chef")
        top = await subscribe(tablet, f"kds:{shift_id}")
        on_b = await b.connect(await b.token("chef"), device={"id": "tablet-b1", "kind": "kds", "app": "kds/1"})
        await subscribe(on_b, f"kds:{shift_id}")
        acknowledged: list[int] = []

        async def kitchen() -> None:
            while True:
                try:
                    response = await order(http_b, shift_id, (8, 1))
                except Exception:  # B is gone: the request got no answer, so nothing was acknowledged
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])

        manager = await a.as_user("manager")

        async def b_members() -> list[str]:
            reply = await command(manager, {"type": "presence", "id": "p", "topic": f"kds:{shift_id}"})
            assert reply["type"] == "presence", reply
            return [m["conn_id"] for m in reply["members"] if m["conn_id"].startswith("node-b-")]

        assert len(await b_members()) == 1
        producing = asyncio.create_task(kitchen())
        await wait_until(lambda: len(acknowledged) >= 10, timeout=20_000 * MS)
        await b.kill()
        await asyncio.wait_for(producing, 10)

        frames = await _tickets(tablet, len(acknowledged))
        assert [f["data"]["id"] for f in frames][: len(acknowledged)] == acknowledged
        assert [f["seq"] for f in frames] == list(range(top["seq"] + 1, top["seq"] + 1 + len(frames)))
        snapshot = (await http_a.get(f"/api/shifts/{shift_id}/kds")).json()
        assert set(acknowledged) <= {t["id"] for t in snapshot["tickets"]}

        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        while await b_members():  # polled at 10/s: well under the command rate limit
            assert loop.time() - killed_at <= 3 * CLUSTER_HEARTBEAT_S, "a dead node's member outlived two heartbeats"
            await asyncio.sleep(100 * MS)


async def test_workers_share_topics_metrics_and_drain(cluster_settings: Settings) -> None:
    """``WORKERS=2``: one port, two worker processes. Tablets land on either worker; every one gets the ticket,
    ``/metrics`` (answered by either worker) counts every socket, and SIGTERM drains them all with 1001."""
    async with hub_process(replace(cluster_settings, node_id="w"), WORKERS="2") as node:
        async with node.client(await node.token("manager")) as http:
            shift_id = await open_shift(http)
            token = await node.token("chef")
            tablets: list[ClientConnection] = []
            workers_seen: set[str] = set()

            async def both_workers_hold_tablets() -> bool:
                """The kernel picks which worker accepts each socket, and the second may still be starting (``/readyz``
                was answered by one): keep at least 8 tablets, and close extras that land on a worker already seen
                so the per-user socket cap is never the reason the test fails."""
                ws, welcome = await node.welcomed(token)
                if len(tablets) >= 8 and welcome["node"] in workers_seen:
                    await ws.close()
                    return False
                workers_seen.add(welcome["node"])
                tablets.append(ws)
                await subscribe(ws, f"kds:{shift_id}")
                return len(tablets) >= 8 and len(workers_seen) == 2

            await wait_until(both_workers_hold_tablets, timeout=30_000 * MS)

            async def presence_spans_both() -> bool:
                reply = await command(tablets[0], {"type": "presence", "id": "p", "topic": f"kds:{shift_id}"})
                return {m["conn_id"].rsplit("-", 1)[0] for m in reply["members"]} == workers_seen

            await wait_until(presence_spans_both)
            placed = await order(http, shift_id, (8, 1))
            for ws in tablets:
                (event,) = await _tickets(ws, 1)
                assert event["data"]["id"] == placed.json()["id"]

            async def counted() -> bool:
                text = (await http.get("/metrics")).text
                total = sum(
                    float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("hub_connections{")
                )
                return total == len(tablets)

            for _ in range(6):  # several scrapes, whichever worker answers each
                await wait_until(counted, timeout=5000 * MS)
        node.proc.send_signal(signal.SIGTERM)
        codes = [(await closed_with(ws, timeout=10_000 * MS))[0] for ws in tablets]
        assert codes == [1001] * len(tablets)
        await asyncio.wait_for(node.proc.wait(), 15)


async def test_failed_logins_count_across_nodes(nodes: tuple[HubProcess, HubProcess]) -> None:
    """Five wrong passwords for one username, spread over both nodes: the next attempt is throttled on either."""
    a, b = nodes
    async with a.client() as http_a, b.client() as http_b:
        for i in range(5):
            wrong = await (http_a, http_b)[i % 2].post("/api/auth/login", json={"username": "chef", "password": "x"})
            assert wrong.status_code == 401
        for http in (http_a, http_b):
            throttled = await http.post("/api/auth/login", json={"username": "chef", "password": "password"})
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def driver_id(login: dict[str, Any]) -> int:
    return int(login["user"]["id"])


async def test_driver_on_b_shows_on_a_dashboard_and_in_nearby(nodes: tuple[HubProcess, HubProcess]) -> None:
    """Latest positions live in Redis: a dashboard on A sees a driver pinging B, live and in REST nearby."""
    a, b = nodes
    dashboard = await a.as_user("manager")
    await subscribe(dashboard, "gps:fleet")
    driver = await b.as_user("driver1")
    own_on_a = await a.as_user("driver1")  # the driver's own topic, followed on the other node
    await subscribe(own_on_a, f"gps:driver:{driver_id(await a.login('driver1'))}")
    ping = {"type": "gps", "id": 1, "lat": 52.52, "lon": 13.405, "ts": time.time()}
    assert (await command(driver, ping))["type"] == "ack"
    (event,) = await _tickets(dashboard, 1)
    (own,) = await _tickets(own_on_a, 1)
    assert own["topic"] == f"gps:driver:{event['data']['driver_id']}" and own["data"] == event["data"]
    assert event["event"] == "gps.position" and (event["data"]["lat"], event["data"]["lon"]) == (52.52, 13.405)
    async with a.client(await a.token("manager")) as http:
        near = (await http.get("/api/drivers/nearby", params={"lat": 52.521, "lon": 13.405, "radius_m": 500})).json()
        positions = (await http.get("/api/drivers/positions")).json()
    assert [p["driver_id"] for p in near["items"]] == [event["data"]["driver_id"]]
    assert 100 < near["items"][0]["distance_m"] < 120
    assert [p["driver_id"] for p in positions["items"]] == [event["data"]["driver_id"]]
