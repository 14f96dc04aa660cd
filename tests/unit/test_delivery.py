"""Sender, corker and fan-out, built alone on an in-memory transport: cork per loop iteration, backpressure,
4500 on a reliable overflow, replace-by-key on a conflated one, encode once, carried topics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from hub.auth import Principal
from hub.codes import CloseCode
from hub.config import HubConfig
from hub.connection import Connection
from hub.connection_kit import ConnectionKit
from hub.fanout import Fanout
from hub.history import Publication
from hub.metrics import HubMetrics
from hub.protocol.commands import Device, core_commands
from hub.protocol.table import CommandTable
from hub.registry import Registry
from hub.sender import Corker, Sender, SendStats
from hub.tasks import TaskSet
from hub.topics import TopicFamily, TopicRegistry
from hub.transport import OnFrame, OnLost
from hub.wire.frames import payload_of


class MemoryTransport:
    """A socket that keeps what is written; ``full`` makes it refuse writes like a full kernel buffer."""

    direct = True

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.full = False
        self.closed: tuple[int, str] | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def frames(self) -> list[dict[str, Any]]:
        out, data = [], b"".join(self.writes)
        while data:
            n = data[1] & 0x7F
            start = 2 if n < 126 else 4
            size = n if n < 126 else int.from_bytes(data[2:4])
            out.append(orjson.loads(payload_of(data[: start + size])))
            data = data[start + size :]
        return out

    def drain(self) -> None:
        self.full = False
        self._writable.set()

    async def accept(self) -> None: ...

    async def receive(self) -> str | bytes | int:
        return 1000

    def try_write(self, data: bytes) -> bool:
        if self.full:
            self._writable.clear()
            return False
        self.writes.append(data)
        return True

    async def wait_writable(self) -> None:
        await self._writable.wait()

    async def send_frames(self, frames: list[bytes]) -> None:
        self.writes.extend(frames)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def on_drain(self, callback: Any) -> None: ...

    def on_stall(self, callback: Any) -> None: ...

    def detach(self, on_frame: OnFrame, on_lost: OnLost) -> bool:
        return True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def _sender(transport: MemoryTransport, corker: Corker, limit: int = 4) -> Sender:
    metrics = HubMetrics(CollectorRegistry())
    log = logging.LoggerAdapter(logging.getLogger("test"), {})
    return Sender(name="t", transport=transport, corker=corker, tasks=TaskSet(), limit=limit, log=log,
                  drops=metrics.dropped_frames)  # fmt: skip


def _frame(n: int) -> bytes:
    return bytes((0x81, len(str(n)))) + str(n).encode()


async def test_frames_of_one_iteration_are_corked_into_one_write() -> None:
    transport, stats = MemoryTransport(), SendStats()
    sender = _sender(transport, Corker(stats))
    for n in range(3):
        sender.push(_frame(n))
    assert transport.writes == []  # nothing written inside the iteration
    await asyncio.sleep(0)
    assert transport.writes == [b"".join(_frame(n) for n in range(3))] and stats.frames == 3


async def test_a_backpressured_socket_queues_in_order_then_overflows_4500() -> None:
    transport = MemoryTransport()
    transport.full = True
    sender = _sender(transport, Corker(SendStats()), limit=4)
    for n in range(3):
        sender.push(_frame(n))
    await asyncio.sleep(0)
    assert transport.writes == [] and sender.close_request is None
    transport.drain()
    for _ in range(5):
        await asyncio.sleep(0)
    assert b"".join(transport.writes) == b"".join(_frame(n) for n in range(3))
    transport.full = True
    for n in range(6):
        sender.push(_frame(n))
        await asyncio.sleep(0)
    assert sender.close_request is not None and sender.close_request[0] is CloseCode.SLOW_CONSUMER


async def test_a_stalled_reader_is_closed_4500_at_once_and_a_stuck_drain_goes_out_with_its_own_code() -> None:
    """The heartbeat found the peer not reading: nothing more waits for it (hub.server's 4500 path)."""
    transport = MemoryTransport()
    transport.full = True
    sender = _sender(transport, Corker(SendStats()), limit=4)
    sender.push(_frame(0))
    await asyncio.sleep(0)
    sender.stalled()
    await asyncio.sleep(0)
    assert transport.closed == (4500, "not reading") and transport.writes == []

    stuck = MemoryTransport()
    stuck.full = True
    sender = _sender(stuck, Corker(SendStats()), limit=4)
    sender.push(_frame(0))
    await asyncio.sleep(0)
    sender.request_close(CloseCode.GOING_AWAY, "server shutting down", flush=True)  # waits for a writable socket
    await asyncio.sleep(0)
    assert stuck.closed is None
    sender.stalled()
    await asyncio.sleep(0)
    assert stuck.closed == (1001, "server shutting down")


async def test_conflated_frames_replace_by_key_while_backlogged() -> None:
    transport = MemoryTransport()
    transport.full = True
    sender = _sender(transport, Corker(SendStats()), limit=4)
    sender.push(_frame(0))
    await asyncio.sleep(0)  # the corked frame finds the socket full: the outbox takes over
    for n in range(1, 50):
        sender.push_conflated("driver-7", _frame(n))
    transport.drain()
    for _ in range(5):
        await asyncio.sleep(0)
    assert b"".join(transport.writes) == _frame(0) + _frame(49) and sender.close_request is None


def _connection(registry: Registry, corker: Corker, transport: MemoryTransport, user: int) -> Connection:
    config = HubConfig()
    metrics = HubMetrics(CollectorRegistry())
    kit = ConnectionKit(config, CommandTable(core_commands()), corker, SendStats(), TaskSet(), metrics)
    conn = Connection(host=None, transport=transport, conn_id=f"c{user}", kit=kit)  # type: ignore[arg-type]
    return conn


async def test_fan_out_encodes_once_and_carries_keyed_topics() -> None:
    families = [TopicFamily("fleet", "conflated", keyed=False), TopicFamily("car", "conflated", carried_by="fleet")]
    registry, corker = Registry(), Corker(SendStats())
    fanout = Fanout(registry, TopicRegistry(families), corker)
    everyone, one_car, other_car = MemoryTransport(), MemoryTransport(), MemoryTransport()
    registry.subscribers["fleet"] = {_connection(registry, corker, everyone, 1): None}
    registry.subscribers["car:7"] = {_connection(registry, corker, one_car, 2): None}
    registry.subscribers["car:8"] = {_connection(registry, corker, other_car, 3): None}
    registry.reliable.update({"fleet": False, "car:7": False, "car:8": False})
    for lat in (1.0, 2.0):
        fanout.on_publication(Publication("fleet", 0, "", "moved", orjson.dumps({"lat": lat}), 1.0, "7"))
    await asyncio.sleep(0)
    fleet, car = everyone.frames(), one_car.frames()
    assert [(f["topic"], f["seq"], f["data"]["lat"]) for f in fleet] == [("fleet", 1, 1.0), ("fleet", 2, 2.0)]
    assert [(f["topic"], f["seq"], f["data"]["lat"]) for f in car] == [("car:7", 1, 1.0), ("car:7", 2, 2.0)]
    assert other_car.writes == []


def test_a_guest_phone_is_never_a_tracked_device() -> None:
    """A principal that is not a user (``public`` None) may name a device in hello: the registry never counts it,
    so the offline book and ``DeviceTracker`` (connected, seen, disconnected) never see a guest's phone."""
    registry, corker = Registry(), Corker(SendStats())
    guest = _connection(registry, corker, MemoryTransport(), 1)
    guest.principal = Principal(user_id=-7, session_id="guest:7", expires_at=2e9, public=None)
    guest.device = Device(id="phone-1")
    cook = _connection(registry, corker, MemoryTransport(), 2)
    cook.principal = Principal(user_id=3, session_id="s", expires_at=2e9, public={"id": 3})
    cook.device = Device(id="tab-1", kind="kds")
    registry.add(guest)
    registry.add(cook)
    assert guest.tracked_device is None and cook.tracked_device == cook.device
    assert registry.devices() == [(3, "tab-1")]
    assert registry.remove(guest) is False  # not "its device's last socket": nothing to mark offline
    assert registry.remove(cook) is True
