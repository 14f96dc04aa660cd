"""hub_client against a real server: commands, resume after drops, refetch after a restart, tokens, close codes."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import pytest

from app.settings import Settings
from hub_client import (
    Api,
    Backoff,
    CommandError,
    ConnectionLost,
    Event,
    HubClosed,
    HubSocket,
    KdsUpdate,
    LoginRequired,
    Position,
    Status,
    follow_kds,
)
from tests.support.kitchen import FRIES, LEMONADE, TACO
from tests.support.proxy import proxy
from tests.support.server import RunningServer, run_server
from tests.support.timing import MS, wait_until

WAIT = 10_000 * MS


async def _items(sub: Any, n: int) -> list[Any]:
    got: list[Any] = []
    async with asyncio.timeout(WAIT):
        async for item in sub:
            got.append(item)
            if len([i for i in got if isinstance(i, Event)]) >= n:
                return got
    return got


async def _shift(api: Api) -> int:
    shift = await api.post("/api/shifts", {"truck_id": 1, "location_id": 1})
    await api.patch(f"/api/shifts/{shift['id']}/config", {"max_orders_per_slot": 10_000, "slot_minutes": 15})
    return int(shift["id"])


def _position(socket: HubSocket, topic: str) -> Position:
    sub = socket.subscription(topic)
    assert sub is not None and sub.position is not None
    return sub.position


async def _order(api: Api, shift_id: int, name: str, item: int = LEMONADE) -> dict[str, Any]:
    body = {"items": [{"item_id": item, "qty": 1, "modifiers": ["no ice"]}], "customer_name": name}
    ticket: dict[str, Any] = await api.post(f"/api/shifts/{shift_id}/orders", body)
    return ticket


async def test_hello_subscribe_commands_and_errors(server: RunningServer) -> None:
    async with Api(server.http) as chef, Api(server.http) as manager:
        await chef.login("chef", "password")
        await manager.login("manager", "password")
        async with HubSocket(chef.ws_url, chef, device={"id": "t-1", "kind": "kds"}) as tablet:
            assert tablet.welcome is not None and tablet.welcome["user"]["username"] == "chef"
            notices = await tablet.subscribe("notice:1")
            assert notices.reply is not None and notices.reply["recovered"] is False
            async with HubSocket(manager.ws_url, manager) as office:
                seq = await office.publish("notice:1", "notice.posted", {"text": "86 the fries"})
                assert seq == 1
                assert [m["device_id"] for m in await office.presence("notice:1")] == ["t-1"]
            (event,) = await _items(notices, 1)
            assert isinstance(event, Event) and event.seq == 1 and event.data == {"text": "86 the fries"}
            assert await tablet.ping() > 0
            with pytest.raises(CommandError) as refused:
                await tablet.subscribe("kds:999999")
            assert refused.value.code in ("forbidden", "not_found")
            with pytest.raises(CommandError) as forbidden:
                await tablet.publish("notice:1", "notice.posted", {"text": "hi"})
            assert forbidden.value.code == "forbidden"
            await tablet.unsubscribe("notice:1")
            assert [i async for i in notices] == []  # the iterator ends


async def test_a_dropped_link_resumes_with_since_without_gap_or_duplicate(server: RunningServer) -> None:
    """The network drops (1006) and stays down while orders are placed; back up, the socket replays them."""
    states: list[Status] = []
    async with proxy(server.port) as link, Api(server.http) as pos, Api(link.http) as chef:
        await pos.login("manager", "password")
        await chef.login("chef", "password")
        shift_id = await _shift(pos)
        async with HubSocket(link.ws_url, chef, on_status=states.append) as tablet:
            kds = await tablet.subscribe(f"kds:{shift_id}")
            first = [await _order(pos, shift_id, f"before {i}") for i in range(3)]
            got = await _items(kds, 3)
            link.refuse = True
            link.cut()
            await wait_until(lambda: not tablet.online, timeout=WAIT)
            missed = [await _order(pos, shift_id, f"while down {i}") for i in range(3)]
            link.refuse = False
            got += await _items(kds, 3)
            after = await _order(pos, shift_id, "after")
            got += await _items(kds, 1)
    assert all(isinstance(i, Event) for i in got)  # recovered: no Resync
    assert [i.seq for i in got] == list(range(1, 8))
    assert [i.data["id"] for i in got] == [t["id"] for t in [*first, *missed, after]]
    assert tablet.opened >= 2 and any(s.state == "offline" and s.code == 1006 for s in states)


FAST = Backoff(base_s=0.05, cap_s=0.5, rate_limited_s=0.5, stable_s=5.0)


@pytest.mark.hub(outbound_queue=16, send_buffer_bytes=4096, commands_per_s=10_000.0)
async def test_a_slow_consumer_closed_4500_resumes_and_misses_nothing(server: RunningServer) -> None:
    """The link stops carrying the hub's bytes: its outbox overflows and it closes 4500; the client resumes."""
    states: list[Status] = []
    async with proxy(server.port) as link, Api(server.http) as office, Api(link.http) as chef:
        await office.login("manager", "password")
        await chef.login("chef", "password")
        async with (
            HubSocket(office.ws_url, office) as manager,
            HubSocket(link.ws_url, chef, on_status=states.append, backoff=FAST) as tablet,
        ):
            notices = await tablet.subscribe("notice:1")
            link.pause()
            published = 0
            async with server.client() as http:
                while 'hub_disconnects_total{by="server",code="4500"} 1.0' not in (await http.get("/metrics")).text:
                    assert published < 600, "the hub never gave up on the stalled socket"
                    for _ in range(20):
                        published = await manager.publish("notice:1", "notice.posted", {"text": "x" * 50_000})
            link.resume()
            got = await _items(notices, published)
    assert [i.seq for i in got] == list(range(1, published + 1))
    assert any(s.state == "offline" and s.code == 4500 for s in states)


async def test_a_restart_starts_a_new_epoch_and_follow_kds_refetches(settings: Settings) -> None:
    """In-process broker: history dies with the server. The resume says recovered:false, the view is refetched."""
    settings = replace(settings, broker_url="")  # with Redis, history (and the epoch) would survive the restart
    updates: list[tuple[set[int], Event | None]] = []
    async with proxy(0) as link, Api(link.http) as chef:

        async def follow(socket: HubSocket, shift_id: int) -> None:
            async for update in follow_kds(chef, socket, shift_id):
                updates.append((set(update.view.tickets), update.event))

        async with run_server(settings) as first, Api(first.http) as pos:
            link.target = first.port
            await chef.login("chef", "password")
            await pos.login("manager", "password")
            shift_id = await _shift(pos)
            before = [(await _order(pos, shift_id, name))["id"] for name in ("Ada", "Grace")]
            socket = HubSocket(link.ws_url, chef, backoff=FAST)
            await socket.connect()
            follower = asyncio.ensure_future(follow(socket, shift_id))
            await wait_until(lambda: bool(updates) and updates[-1][0] == set(before), timeout=WAIT)
            old = _position(socket, f"kds:{shift_id}")
        async with run_server(settings) as second, Api(second.http) as pos:
            link.target = second.port
            await pos.login("manager", "password")
            third = (await _order(pos, shift_id, "Linus"))["id"]
            await wait_until(lambda: updates[-1][0] == {*before, third}, timeout=WAIT)
            resumed = _position(socket, f"kds:{shift_id}")
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await socket.close()
    assert resumed.epoch != old.epoch
    snapshots = [tickets for tickets, event in updates if event is None]
    assert snapshots[0] == set() or snapshots[0] == set(before)
    assert len(snapshots) >= 2  # the first, and the refetch after recovered:false


async def test_follow_kds_stays_consistent_while_orders_flow(server: RunningServer) -> None:
    async with Api(server.http) as pos, Api(server.http) as chef:
        await pos.login("manager", "password")
        await chef.login("chef", "password")
        shift_id = await _shift(pos)
        early = [await _order(pos, shift_id, f"early {i}", TACO) for i in range(3)]
        seen: list[KdsUpdate] = []
        positions: list[int] = []
        async with HubSocket(chef.ws_url, chef) as tablet:

            async def follow() -> None:
                async for update in follow_kds(chef, tablet, shift_id):
                    positions.append(update.view.position.seq)
                    seen.append(update)

            follower = asyncio.ensure_future(follow())
            placed = [await _order(pos, shift_id, f"rush {i}", FRIES) for i in range(12)]
            for ticket in (*early, *placed[:4]):
                await pos.post(f"/api/orders/{ticket['id']}/advance", {"to": "in_progress"})
            await pos.post(f"/api/orders/{placed[5]['id']}/cancel", {"reason": "left"})
            for ticket in early:
                await pos.post(f"/api/orders/{ticket['id']}/advance", {"to": "ready"})
                await pos.post(f"/api/orders/{ticket['id']}/advance", {"to": "completed"})
            final = await pos.get(f"/api/shifts/{shift_id}/kds")
            await wait_until(lambda: bool(seen) and seen[-1].view.position.seq == final["seq"], timeout=WAIT)
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    view = seen[-1].view
    assert positions == sorted(positions) and len(set(positions)) == len(positions)  # each seq applied once
    assert [t["id"] for t in view.open_tickets()] == [t["id"] for t in final["tickets"]]
    assert {t["id"]: t["status"] for t in view.tickets.values()} == {t["id"]: t["status"] for t in final["tickets"]}
    assert seen[0].event is None and all(u.event is not None for u in seen[1:])  # no refetch was needed


async def test_4401_for_a_deleted_device_reconnects_but_after_logout_asks_to_log_in(server: RunningServer) -> None:
    states: list[Status] = []
    async with Api(server.http) as chef:
        await chef.login("chef", "password")
        tablet = HubSocket(chef.ws_url, chef, device={"id": "t-9", "kind": "kds"}, on_status=states.append)
        await tablet.connect()
        notices = await tablet.subscribe("notice:1")
        await chef.delete("/api/devices/t-9")  # closes its sockets 4401; the token itself is still good
        await wait_until(lambda: tablet.opened == 2, timeout=WAIT)
        assert any(s.state == "offline" and s.code == 4401 and s.retry_in == 0 for s in states)
        assert chef.refreshes <= 1 and tablet.online
        await chef.logout()  # the session ends: 4401, the refresh fails, nothing more to try
        with pytest.raises(LoginRequired):
            await asyncio.wait_for(tablet.wait_closed(), WAIT)
        with pytest.raises(LoginRequired):
            await _items(notices, 1)
        assert states[-1].state == "closed" and states[-1].code == 4401
        await tablet.close()


async def test_a_bare_token_that_is_refused_raises_login_required(server: RunningServer) -> None:
    with pytest.raises(LoginRequired):
        await HubSocket(server.ws_url, "not-a-token").connect()


@pytest.mark.hub(access_ttl_s=3)
async def test_tokens_are_refreshed_before_expiry_on_rest_and_socket(server: RunningServer) -> None:
    """A 3 s access token: the Api refreshes it, the socket presents it (``refresh``) and is never closed.
    A socket on a bare token, for contrast, is closed 4401 when it expires."""
    states: list[Status] = []
    async with Api(server.http) as chef:
        await chef.login("chef", "password")
        bare = HubSocket(server.ws_url, await chef.access_token())
        await bare.connect()
        async with HubSocket(chef.ws_url, chef, on_status=states.append) as tablet:
            with pytest.raises(LoginRequired):
                await asyncio.wait_for(bare.wait_closed(), WAIT)
            await wait_until(lambda: chef.refreshes >= 4, timeout=4 * WAIT)
            assert await tablet.ping() > 0
            assert (await chef.get("/api/me"))["username"] == "chef"
            assert tablet.opened == 1 and [s.state for s in states] == ["open"]
        await bare.close()


async def test_an_oversized_frame_stops_the_socket_instead_of_looping(server: RunningServer) -> None:
    async with Api(server.http) as office:
        await office.login("manager", "password")
        socket = HubSocket(office.ws_url, office, backoff=FAST)
        await socket.connect()
        with pytest.raises((CommandError, ConnectionLost, HubClosed)):
            await socket.publish("notice:1", "notice.posted", {"text": "x" * 70_000})
        with pytest.raises(HubClosed) as closed:
            await asyncio.wait_for(socket.wait_closed(), WAIT)
        assert closed.value.code == 1009 and socket.opened == 1
        await socket.close()


@pytest.mark.hub(max_sockets_per_user=1)
async def test_4429_backs_off_longer_then_gets_back_in(server: RunningServer) -> None:
    states: list[Status] = []
    async with proxy(server.port) as link, Api(server.http) as chef:
        await chef.login("chef", "password")
        async with HubSocket(link.ws_url, chef, backoff=FAST, on_status=states.append) as tablet:
            with pytest.raises(HubClosed) as refused:
                await HubSocket(server.ws_url, chef).connect()  # one socket per user on this node
            assert refused.value.code == 4429
            link.refuse = True
            link.cut()
            await wait_until(lambda: not tablet.online, timeout=WAIT)
            other = HubSocket(server.ws_url, chef)
            await other.connect()  # takes the only place
            link.refuse = False
            await wait_until(lambda: any(s.code == 4429 for s in states), timeout=WAIT)
            await other.close()
            await wait_until(lambda: tablet.online, timeout=WAIT)
    limited = [s for s in states if s.code == 4429]
    assert limited[0].retry_in is not None and limited[0].retry_in >= FAST.rate_limited_s
