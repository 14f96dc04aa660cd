"""One topic's subscription: where its stream stands, and the queue or callback its events go to.

The socket feeds it from its single reader task, so everything here happens in the order frames
arrived: a ``subscribed`` reply (and a ``Resync`` it may cause) always precedes that subscription's
events (protocol.md §2.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum
from typing import Any

from hub_client.errors import ConnectionLost
from hub_client.frames import Event, Item, Position, Resync, is_reliable

__all__ = ["Accept", "Subscription"]


class Accept(Enum):
    """What to do with an incoming event."""

    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    """seq ≤ the last one seen in this epoch: already delivered (never apply it again)."""
    GAP = "gap"
    """seq skipped ahead, or the epoch changed mid-stream: resume from the last good position."""


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Subscription:
    """Iterate it (``async for item in sub``) for ``Event`` and ``Resync`` items, or pass ``on_item``.

    With neither, events pile up to ``maxsize`` and the socket stops reading: the hub then closes it
    4500 and the client resumes later, so a stalled consumer loses nothing within the history window.
    """

    def __init__(
        self,
        topic: str,
        *,
        since: Position | None = None,
        on_item: Callable[[Item], None] | None = None,
        maxsize: int = 1024,
    ) -> None:
        self.topic = topic
        self.reliable = is_reliable(topic)
        self.position: Position | None = since
        """The last event delivered (or the ``since`` given); what a resume sends."""
        self.reply: dict[str, Any] | None = None
        """The latest ``subscribed`` reply."""
        self._on_item = on_item
        self._queue: asyncio.Queue[Item | _End] = asyncio.Queue(maxsize)
        self._ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._asked_since: Position | None = None

    def frame(self, command_id: str) -> dict[str, Any]:
        """The ``subscribe`` command, resuming from the last position on reliable topics."""
        frame: dict[str, Any] = {"type": "subscribe", "id": command_id, "topic": self.topic}
        self._asked_since = self.position if self.reliable else None
        if self._asked_since is not None:
            frame["since"] = self._asked_since.as_since()
        return frame

    def subscribed(self, reply: dict[str, Any]) -> Resync | None:
        """Take a ``subscribed`` reply; returns a ``Resync`` when a resume was refused.

        With ``recovered: true`` the position stays where it was: the replayed events that follow
        advance it, so a drop in mid-replay resumes from the last one actually received.
        """
        self.reply = reply
        if not self._ready.done():
            self._ready.set_result(reply)
        top = Position(int(reply["seq"]), str(reply.get("epoch", "")))
        if reply.get("recovered") and self._asked_since is not None:
            return None
        self.position = top
        if self._asked_since is not None and self.reliable:
            return Resync(self.topic, top)
        return None

    def accept(self, event: Event) -> Accept:
        """Check an event against the position and advance it (conflated topics may skip seq)."""
        last = self.position
        if self.reliable and last is not None:
            if event.epoch == last.epoch and event.seq <= last.seq:
                return Accept.DUPLICATE
            if event.epoch != last.epoch or event.seq != last.seq + 1:
                return Accept.GAP
        self.position = event.position
        return Accept.DELIVER

    async def deliver(self, item: Item) -> None:
        if self._on_item is not None:
            self._on_item(item)
        else:
            await self._queue.put(item)  # full: the reader waits, which is the back-pressure we want

    def fail(self, error: BaseException) -> None:
        """The subscription could not be made (forbidden, not found…): ``wait_ready`` raises ``error``."""
        self.end(error)

    def end(self, error: BaseException | None = None) -> None:
        """No more items: iterators stop (or raise ``error``, e.g. ``LoginRequired``)."""
        if not self._ready.done():
            self._ready.set_exception(error or ConnectionLost("socket closed"))
            self._ready.exception()  # marked retrieved: no "never retrieved" log if nobody waits
        while self._queue.full():  # the end must fit; a consumer that stopped reading loses the tail anyway
            self._queue.get_nowait()
        self._queue.put_nowait(_End(error))

    async def wait_ready(self) -> dict[str, Any]:
        """The first ``subscribed`` reply (raises what ``fail`` was given)."""
        return await asyncio.shield(self._ready)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later __anext__ ends the same way
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item
