"""Messages that wait for the application's ``receive()`` until the hub takes frames by callback.

Before ``hello`` the ASGI side reads one message at a time; a peer that floods the socket meanwhile pauses
reading (the flood waits in the kernel, not in our memory) until the application has caught up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["INBOX_LIMIT", "Inbox", "Message"]

INBOX_LIMIT = 64  # messages held before reading pauses
Message = bytes | str | int  # a data message, or the close code once the socket is gone


class Inbox:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, pause_reading: Callable[[], None], resume_reading: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._pause_reading, self._resume_reading = pause_reading, resume_reading
        self._messages: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def hold(self, message: Message) -> None:
        self._messages.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(self._messages) >= INBOX_LIMIT:
            self._pause_reading()

    async def next(self) -> Message:
        """The next message, waiting for one; an ``int`` close code once the socket is gone."""
        while not self._messages:
            self._waiter = self._loop.create_future()
            await self._waiter
        message = self._messages.popleft()
        if len(self._messages) < INBOX_LIMIT // 2:
            self._resume_reading()
        return message

    def take_all(self) -> deque[Message]:
        """Everything held, in order, for the callback that takes over; the inbox is empty after."""
        held, self._messages = self._messages, deque()
        return held
