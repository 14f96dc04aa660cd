"""GPS ingest built alone: rate per driver, ``ts`` order, ``ack`` only for what was stored, one publication."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from app.gps.command import Gps, GpsPing
from app.gps.ingest import GpsIngest, GpsMetrics
from app.gps.positions import MemoryPositions
from hub.auth import Principal
from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.metrics import HubMetrics

DRIVER = Principal(user_id=5, session_id="s", expires_at=2e9, claims={"role": "driver"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _ingest(clock: Clock, published: list[tuple[Any, ...]]) -> tuple[GpsIngest, MemoryPositions]:
    registry = CollectorRegistry()
    store = MemoryPositions()
    ingest = GpsIngest(
        store,
        per_s=2,
        may_send=lambda p: p.claims.get("role") == "driver",
        metrics=GpsMetrics(registry),
        hub_metrics=HubMetrics(registry),
        clock=clock,
    )
    ingest.publish = lambda *args: published.append(args)
    return ingest, store


T0 = time.time()  # pings carry phone times: recent ones, or the store's TTL forgets them


@pytest.fixture(autouse=True)
def _recent_phone_time() -> None:
    """Taken per test, not at import: in a long run (the Postgres suite takes ~20 min) a time taken at collection
    is older than the position TTL (15 min) by the time these tests run, and the store forgets the pings."""
    global T0
    T0 = time.time()


def _gps(cid: Any, *ts: float) -> Gps:
    return Gps(id=cid, pings=tuple(GpsPing(lat=5.0, lon=-4.0, ts=T0 + t) for t in ts))


async def test_acks_only_what_was_stored_and_refuses_the_rest_with_its_id() -> None:
    clock, published = Clock(), []
    ingest, store = _ingest(clock, published)
    assert ingest.handle(DRIVER, _gps(1, 1.0)) == b'{"type":"ack","id":1}'
    assert ingest.handle(DRIVER, _gps("two", 2.0)) == b'{"type":"ack","id":"two"}'
    with pytest.raises(ProtocolError) as dropped:
        ingest.handle(DRIVER, _gps(3, 3.0))  # the bucket (2/s) is empty
    assert dropped.value.code is ErrorCode.RATE_LIMITED and dropped.value.command_id == 3
    assert ingest.handle(DRIVER, _gps(None, 4.0)) is None  # no id: at most one notice a second, here silent
    assert [p.ts - T0 for p in await store.trail(5)] == [1.0, 2.0]
    assert [orjson.loads(args[2])["ts"] - T0 for args in published] == [1.0, 2.0]
    assert {args[0] for args in published} == {"gps:fleet"} and {args[4] for args in published} == {"5"}


async def test_older_pings_are_ignored_and_a_batch_costs_one_token() -> None:
    clock, published = Clock(), []
    ingest, store = _ingest(clock, published)
    ingest.handle(DRIVER, _gps(None, 10.0, 11.0, 12.0))
    clock.now += 1
    assert ingest.handle(DRIVER, _gps(1, 9.0, 12.0)) == b'{"type":"ack","id":1}'  # superseded: acked, not stored
    assert [p.ts - T0 for p in await store.trail(5)] == [10.0, 11.0, 12.0]
    assert len(published) == 1 and orjson.loads(published[0][2])["ts"] == T0 + 12.0  # the newest of the batch


def test_only_drivers_stream_positions() -> None:
    ingest, _ = _ingest(Clock(), [])
    cook = Principal(user_id=3, session_id="s", expires_at=2e9, claims={"role": "staff"})
    with pytest.raises(ProtocolError) as refused:
        ingest.handle(cook, _gps(1, 1.0))
    assert refused.value.code is ErrorCode.FORBIDDEN
