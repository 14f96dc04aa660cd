"""The inbox before the hub takes frames by callback: order, waiting, and reading paused by a flood."""

from __future__ import annotations

import asyncio

from hub.server.inbox import INBOX_LIMIT, Inbox


class _Reading:
    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


async def test_a_waiting_receive_gets_the_next_message_in_order() -> None:
    reading = _Reading()
    inbox = Inbox(asyncio.get_running_loop(), reading.pause, reading.resume)
    waiting = asyncio.ensure_future(inbox.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.hold("hello")
    inbox.hold(b"\x01")
    assert await waiting == "hello"
    assert await inbox.next() == b"\x01"


async def test_a_flood_pauses_reading_until_half_is_taken() -> None:
    reading = _Reading()
    inbox = Inbox(asyncio.get_running_loop(), reading.pause, reading.resume)
    for n in range(INBOX_LIMIT):
        inbox.hold(str(n))
    assert reading.paused
    taken = [await inbox.next() for _ in range(INBOX_LIMIT // 2)]
    assert taken == [str(n) for n in range(INBOX_LIMIT // 2)] and reading.paused
    await inbox.next()
    assert not reading.paused


async def test_take_all_hands_over_what_is_held_and_leaves_it_empty() -> None:
    reading = _Reading()
    inbox = Inbox(asyncio.get_running_loop(), reading.pause, reading.resume)
    inbox.hold("a")
    inbox.hold(1001)
    assert list(inbox.take_all()) == ["a", 1001]
    assert list(inbox.take_all()) == []
