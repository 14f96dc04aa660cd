"""One contract suite for every Broker implementation (conventions §5). New brokers join by adding a param."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hub.broker import Broker, create_broker
from hub.history import Publication


@pytest.fixture(params=["memory"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    impl = create_broker("", history_size=5, history_ttl_s=60.0) if request.param == "memory" else None
    assert impl is not None
    yield impl
    await impl.close()


async def test_publish_assigns_gap_free_seq_and_delivers_in_order(broker: Broker) -> None:
    got: list[Publication] = []
    await broker.start(got.append)
    await broker.subscribe(["kds:1"])
    pubs = [await broker.publish("kds:1", "e", b'{"n":%d}' % i, reliable=True, ts=time.time()) for i in range(3)]
    assert [p.seq for p in pubs] == [1, 2, 3] and len({p.epoch for p in pubs}) == 1
    await _until(lambda: len(got) == 3)
    assert [p.seq for p in got] == [1, 2, 3] and got[0].data == b'{"n":0}'


async def test_concurrent_publishers_get_distinct_consecutive_seqs(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    pubs = await asyncio.gather(
        *(broker.publish("kds:2", "e", b"{}", reliable=True, ts=time.time()) for _ in range(50))
    )
    assert sorted(p.seq for p in pubs) == list(range(1, 51))


async def test_history_after_a_position_and_its_bounds(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    for _ in range(7):
        await broker.publish("kds:3", "e", b"{}", reliable=True, ts=time.time())
    result = await broker.history("kds:3", 4)
    assert [p.seq for p in result.publications] == [5, 6, 7] and result.top.seq == 7
    kept = await broker.history("kds:3", 0)
    assert [p.seq for p in kept.publications] == [3, 4, 5, 6, 7]  # history_size=5
    assert (await broker.position("kds:3")) == result.top


async def test_topics_are_independent_and_conflated_topics_keep_no_history(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    await broker.publish("kds:4", "e", b"{}", reliable=True, ts=time.time())
    gps = await broker.publish("gps:fleet", "gps.position", b"{}", reliable=False, ts=time.time(), key="7")
    assert gps.seq == 1 and gps.key == "7"
    assert (await broker.history("gps:fleet", 0)).publications == []
    assert (await broker.position("kds:5")).seq == 0


async def test_ping(broker: Broker) -> None:
    await broker.ping()


async def _until(predicate: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not delivered in time"
        await asyncio.sleep(0.005)
