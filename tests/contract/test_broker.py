"""One contract suite for every Broker implementation (conventions §5). New brokers join by adding a param."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from hub.broker import Broker, create_broker
from hub.history import Publication
from tests.conftest import service_url
from tests.support.brokers import stored


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        impl = create_broker("", history_size=5, history_ttl_s=60.0)
    else:  # the real Redis of HUB_TEST_REDIS_URL, with keys of this test only
        url = service_url("HUB_TEST_REDIS_URL")
        assert url is not None
        impl = create_broker(url, history_size=5, history_ttl_s=60.0, namespace=f"fxtest-{uuid.uuid4().hex[:8]}")
    yield impl
    await impl.close()


async def test_publish_assigns_gap_free_seq_and_delivers_in_order(broker: Broker) -> None:
    got: list[Publication] = []
    await broker.start(got.append)
    await broker.subscribe(["kds:1"])
    pubs = [await stored(broker, "kds:1", "e", b'{"n":%d}' % i, reliable=True, ts=time.time()) for i in range(3)]
    assert [p.seq for p in pubs] == [1, 2, 3] and len({p.epoch for p in pubs}) == 1
    await _until(lambda: len(got) == 3)
    assert [p.seq for p in got] == [1, 2, 3] and got[0].data == b'{"n":0}'


async def test_concurrent_publishers_get_distinct_consecutive_seqs(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    pubs = await asyncio.gather(
        *(stored(broker, "kds:2", "e", b"{}", reliable=True, ts=time.time()) for _ in range(50))
    )
    assert sorted(p.seq for p in pubs) == list(range(1, 51))


async def test_a_guard_stores_a_publication_once(broker: Broker) -> None:
    """A publisher that cannot tell whether its last attempt landed retries with the same guard."""
    got: list[Publication] = []
    await broker.start(got.append)
    await broker.subscribe(["kds:12"])
    first = await stored(broker, "kds:12", "a", b"1", reliable=True, ts=time.time(), guard=10)
    assert await broker.publish("kds:12", "a", b"1", reliable=True, ts=time.time(), guard=10) is None
    assert await broker.publish("kds:12", "old", b"0", reliable=True, ts=time.time(), guard=9) is None
    other_topic = await stored(broker, "kds:13", "a", b"1", reliable=True, ts=time.time(), guard=10)
    second = await stored(broker, "kds:12", "b", b"2", reliable=True, ts=time.time(), guard=11)
    unguarded = await stored(broker, "kds:12", "c", b"3", reliable=True, ts=time.time())
    assert (first.seq, second.seq, unguarded.seq, other_topic.seq) == (1, 2, 3, 1)
    history = await broker.history("kds:12", 0)
    assert [p.event for p in history.publications] == ["a", "b", "c"]
    await _until(lambda: [p.event for p in got if p.topic == "kds:12"] == ["a", "b", "c"])


async def test_history_after_a_position_and_its_bounds(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    for _ in range(7):
        await stored(broker, "kds:3", "e", b"{}", reliable=True, ts=time.time())
    result = await broker.history("kds:3", 4)
    assert [p.seq for p in result.publications] == [5, 6, 7] and result.top.seq == 7
    kept = await broker.history("kds:3", 0)
    assert [p.seq for p in kept.publications] == [3, 4, 5, 6, 7]  # history_size=5
    assert (await broker.position("kds:3")) == result.top


async def test_topics_are_independent_and_conflated_topics_keep_no_history(broker: Broker) -> None:
    await broker.start(lambda pub: None)
    await stored(broker, "kds:4", "e", b"{}", reliable=True, ts=time.time())
    gps = await stored(broker, "gps:fleet", "gps.position", b"{}", reliable=False, ts=time.time(), key="7")
    assert gps.seq == 1 and gps.key == "7"
    assert (await broker.history("gps:fleet", 0)).publications == []
    assert (await broker.position("kds:5")).seq == 0


async def test_topics_subscribed_before_start_are_delivered(broker: Broker) -> None:
    got: list[Publication] = []
    await broker.subscribe(["kds:8"])
    await broker.start(got.append)
    await _settle(broker)
    await stored(broker, "kds:8", "e", b"{}", reliable=True, ts=time.time())
    await _until(lambda: len(got) == 1)


async def test_ping(broker: Broker) -> None:
    await broker.ping()


async def test_volatile_publications_reach_subscribed_topics(broker: Broker) -> None:
    got: list[Publication] = []
    await broker.start(got.append)
    await broker.subscribe(["gps:fleet"])
    await _settle(broker)
    broker.publish_volatile("gps:fleet", "gps.position", b'{"driver_id":7}', ts=time.time(), key="7")
    broker.publish_volatile("gps:driver:7", "gps.position", b'{"driver_id":7}', ts=time.time(), key="7")
    await _until(lambda: any(p.topic == "gps:fleet" for p in got))
    fleet = next(p for p in got if p.topic == "gps:fleet")
    assert (fleet.event, fleet.key, fleet.data) == ("gps.position", "7", b'{"driver_id":7}')
    # (a networked broker need not carry topics this node did not subscribe; the hub filters either way)


async def test_a_second_node_shares_seq_history_and_live_events(broker: Broker) -> None:
    """Two broker instances on one store act as two hub nodes (the memory broker is one node: skipped)."""
    if broker.single_node:
        pytest.skip("the in-process broker is a single node by definition")
    other = _twin(broker)
    got: list[Publication] = []
    await broker.start(lambda pub: None)
    await other.start(got.append)
    try:
        await other.subscribe(["kds:9"])
        await _settle(other)
        first = await stored(broker, "kds:9", "e", b"{}", reliable=True, ts=time.time())
        second = await stored(other, "kds:9", "e", b"{}", reliable=True, ts=time.time())
        assert (first.seq, second.seq) == (1, 2) and first.epoch == second.epoch
        await _until(lambda: len(got) == 2)
        assert [p.seq for p in got] == [1, 2]
        assert [p.seq for p in (await other.history("kds:9", 0)).publications] == [1, 2]
    finally:
        await other.close()


def _twin(broker: Broker) -> Broker:
    from hub.broker.redis import RedisBroker

    assert isinstance(broker, RedisBroker)
    url = service_url("HUB_TEST_REDIS_URL")
    assert url is not None
    return RedisBroker.from_url(url, history_size=5, history_ttl_s=60.0, namespace=broker.namespace)


async def _settle(broker: Broker) -> None:
    """Pub/sub subscriptions take effect asynchronously; a ping round-trip orders us after them."""
    await broker.ping()
    await asyncio.sleep(0.05)


async def _until(predicate: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not delivered in time"
        await asyncio.sleep(0.005)
