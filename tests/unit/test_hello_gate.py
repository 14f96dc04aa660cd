"""Hello admission: slots, a short ordered wait, refusals counted by what was refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hub.codes import CloseCode
from hub.errors import CloseConnection
from hub.hello_gate import HelloGate
from tests.support.timing import MS, wait_until

pytestmark = pytest.mark.timeout(10)


class Gate:
    def __init__(self, slots: int, *, queue: int = 2, wait_s: float = 30.0) -> None:
        self.refused: list[str] = []
        self.reported: list[int] = []
        self.gate = HelloGate(
            slots, queue=queue, wait_s=wait_s, refused=self.refused.append, report=self.reported.append
        )

    async def hold(self, order: list[str], name: str, release: asyncio.Event) -> None:
        async with self.gate.admitting():
            order.append(name)
            await release.wait()


async def until(predicate: Callable[[], bool]) -> None:
    await wait_until(predicate, timeout=2000 * MS)


async def test_hellos_beyond_the_slots_wait_and_go_in_order() -> None:
    g = Gate(1, queue=3)
    order: list[str] = []
    releases = {name: asyncio.Event() for name in "abcd"}
    tasks = [asyncio.create_task(g.hold(order, name, releases[name])) for name in "abcd"]
    await until(lambda: g.gate.waiting == 3)
    assert order == ["a"] and g.reported[-1] == 3
    for name in "abcd":
        releases[name].set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"] and g.refused == [] and g.gate.waiting == 0 and g.reported[-1] == 0


async def test_a_hello_that_waits_too_long_is_closed_1013() -> None:
    g = Gate(1, wait_s=0.05)
    release = asyncio.Event()
    order: list[str] = []
    busy = asyncio.create_task(g.hold(order, "a", release))
    await until(lambda: order == ["a"])
    with pytest.raises(CloseConnection) as closed:
        async with g.gate.admitting():
            pass
    assert closed.value.close_code == CloseCode.TRY_AGAIN_LATER and g.refused == ["hello"] and g.gate.waiting == 0
    release.set()
    await busy
    async with g.gate.admitting():  # the slot is free again: no wait, no refusal
        assert g.refused == ["hello"]


async def test_a_full_queue_refuses_at_once_and_makes_the_node_crowded() -> None:
    g = Gate(1, queue=1)
    release = asyncio.Event()
    tasks = [asyncio.create_task(g.hold([], name, release)) for name in "ab"]
    await until(lambda: g.gate.waiting == 1)
    with pytest.raises(CloseConnection):
        async with g.gate.admitting():
            pass
    assert g.gate.crowded() and g.refused == ["hello", "upgrade"]
    release.set()
    await asyncio.gather(*tasks)
    assert not g.gate.crowded() and g.refused == ["hello", "upgrade"]


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    g = Gate(1, queue=1)
    release = asyncio.Event()
    busy = asyncio.create_task(g.hold([], "a", release))
    waiter = asyncio.create_task(g.hold([], "b", asyncio.Event()))
    await until(lambda: g.gate.waiting == 1)
    waiter.cancel()  # its client went away while it waited
    await asyncio.gather(waiter, return_exceptions=True)
    assert g.gate.waiting == 0 and not g.gate.crowded()
    release.set()
    await busy
    async with g.gate.admitting():
        pass


async def test_no_slots_means_no_limit() -> None:
    g = Gate(0, queue=0)
    release = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(g.hold(order, str(i), release)) for i in range(50)]
    await until(lambda: len(order) == 50)
    assert not g.gate.crowded() and g.refused == []
    release.set()
    await asyncio.gather(*tasks)
