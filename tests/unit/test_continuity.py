"""Continuity (gap filling from history), built alone."""

from __future__ import annotations

import time

from hub.broker.memory import MemoryBroker
from hub.continuity import Continuity
from hub.history import Publication
from hub.protocol.commands import Position
from hub.tasks import TaskSet
from tests.support.brokers import stored
from tests.support.timing import wait_until


async def _setup() -> tuple[MemoryBroker, Continuity, list[int], list[str], list[str]]:
    broker = MemoryBroker(history_size=3)
    delivered: list[int] = []
    lost: list[str] = []
    outcomes: list[str] = []
    continuity = Continuity(
        broker,
        TaskSet(),
        deliver=lambda pub: delivered.append(pub.seq),
        lost=lambda topic, reason: lost.append(topic),
        counted=outcomes.append,
    )
    return broker, continuity, delivered, lost, outcomes


async def test_a_skipped_seq_is_read_back_from_history_and_delivered_in_order() -> None:
    broker, continuity, delivered, lost, outcomes = await _setup()
    pubs = [await stored(broker, "t", "e", b"1", reliable=True, ts=time.time()) for _ in range(3)]
    continuity.follow("t", Position(0, pubs[0].epoch))
    assert continuity.admit(pubs[0])  # in order: delivered by the caller
    assert not continuity.admit(pubs[2])  # seq 2 was lost on the live channel: held, 2 read back
    await wait_until(lambda: delivered == [2, 3])
    assert not continuity.admit(pubs[1]) and outcomes == ["filled", "duplicate"] and lost == []


async def test_a_gap_history_no_longer_covers_closes_the_topic() -> None:
    broker, continuity, delivered, lost, outcomes = await _setup()
    pubs = [await stored(broker, "t", "e", b"1", reliable=True, ts=time.time()) for _ in range(6)]  # history keeps 3
    continuity.follow("t", Position(0, pubs[0].epoch))
    assert continuity.admit(pubs[0])
    assert not continuity.admit(pubs[5])
    await wait_until(lambda: lost == ["t"])
    assert outcomes == ["lost"] and delivered == []


async def test_a_new_epoch_closes_the_topic() -> None:
    broker, continuity, delivered, lost, _ = await _setup()
    await stored(broker, "t", "e", b"1", reliable=True, ts=time.time())
    continuity.follow("t", Position(1, "an-epoch-the-broker-lost"))
    assert not continuity.admit(Publication("t", 2, "a-new-epoch", "e", b"2", 0.0))
    await wait_until(lambda: lost == ["t"])
