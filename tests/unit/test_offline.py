"""Devices going offline are written behind, in batches, one write at a time (hub.offline)."""

from __future__ import annotations

import asyncio

import pytest

from hub.auth import Principal
from hub.offline import DeviceKey, OfflineBook
from hub.protocol.commands import Device
from hub.tasks import TaskSet


class SlowTracker:
    """Counts concurrent writes; each write takes a moment, like a database round trip."""

    def __init__(self) -> None:
        self.batches: list[list[DeviceKey]] = []
        self.running = 0
        self.most_at_once = 0
        self.fail = False

    async def connected(self, principal: Principal, device: Device) -> None: ...

    async def seen(self, devices: list[DeviceKey]) -> None: ...

    async def disconnected(self, devices: list[DeviceKey]) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.01)
            if self.fail:
                raise OSError("pool timeout")
            self.batches.append(devices)
        finally:
            self.running -= 1


async def test_a_thousand_closes_cost_a_couple_of_writes_never_two_at_once() -> None:
    tracker, back = SlowTracker(), {(1, "d-7")}
    book = OfflineBook(tracker, TaskSet(), connected=back.__contains__)
    for i in range(500):
        book.add((1, f"d-{i}"))
    await asyncio.sleep(0)  # the first write starts with what is there
    for i in range(500, 1000):
        book.add((1, f"d-{i}"))
    book.add((2, "gone-then-back"))
    book.cancel((2, "gone-then-back"))  # said hello again before its mark was written
    await book.flush(1.0)
    written = [key for batch in tracker.batches for key in batch]
    assert len(tracker.batches) == 2 and tracker.most_at_once == 1
    assert sorted(written) == sorted({(1, f"d-{i}") for i in range(1000)} - back)  # d-7 has a socket again
    assert len(book) == 0


async def test_a_failed_write_is_logged_and_the_next_batch_still_goes(caplog: pytest.LogCaptureFixture) -> None:
    tracker = SlowTracker()
    tracker.fail = True
    book = OfflineBook(tracker, TaskSet(), connected=lambda key: False)
    book.add((1, "a"))
    await book.flush(1.0)
    assert "bookkeeping failed for 1 devices" in caplog.text
    tracker.fail = False
    book.add((1, "b"))
    await book.flush(1.0)
    assert tracker.batches == [[(1, "b")]]
