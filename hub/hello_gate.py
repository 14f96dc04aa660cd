"""Admission of hellos in a reconnect storm: a few at work, more waiting briefly, the rest told to come back.

After a restart every tablet of a site says hello within a second or two. Each hello waits on the
application (the token's session, the device's registration: the database), so they are let in
``slots`` at a time. A hello that finds every slot taken used to be closed 1013 at once; but by then
its socket had cost the node a TCP accept, an upgrade and a frame, and the tablet would pay its
backoff (doubling with every refusal) and do it all again. Now it waits for a slot, in order, for
up to ``wait_s`` (kept inside the clients' wait for ``welcome``). Only when ``queue`` hellos
already wait, or the wait runs out, is it closed 1013; and while the queue is full the server
refuses new upgrades outright (:meth:`HelloGate.crowded`), which is cheaper still.

The queue is deep on purpose: in the storm benchmark (5,000 tablets), four waiting per slot left
4,700 hellos refused and the last tablet back after 21 s; fifty per slot refused none and had
every tablet back in about 13 s, because a waiting hello costs nothing while a refused one costs
its whole connection again, later.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from hub.codes import CloseCode
from hub.errors import CloseConnection

__all__ = ["QUEUE_PER_SLOT", "HelloGate"]

QUEUE_PER_SLOT = 50
"""Hellos that may wait for each slot before the next is refused."""


class HelloGate:
    """At most ``slots`` hellos at work (0: no limit); up to ``queue`` more wait, each at most ``wait_s``.

    ``refused(what)`` counts a refusal: ``"upgrade"`` (answered 503 before any WebSocket work) or
    ``"hello"`` (closed 1013); ``report(n)`` is told how many wait whenever that changes.
    """

    def __init__(
        self,
        slots: int,
        *,
        queue: int,
        wait_s: float,
        refused: Callable[[str], None],
        report: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._slots = slots
        self._queue = queue
        self._wait_s = wait_s
        self._refused = refused
        self._report = report
        self._free = asyncio.Semaphore(max(1, slots))
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def crowded(self) -> bool:
        """Every slot busy and the queue full: a new socket's hello could only be refused."""
        if self._slots and self._waiting >= self._queue and self._free.locked():
            self._refused("upgrade")
            return True
        return False

    @asynccontextmanager
    async def admitting(self) -> AsyncIterator[None]:
        """Holds a slot for the body; waits for one in order when all are taken.

        Raises:
            CloseConnection: 1013 when the queue is full or no slot came free within ``wait_s``.
        """
        if not self._slots:
            yield
            return
        if self._free.locked():
            if self._waiting >= self._queue:
                self._refuse()
            self._waiting += 1
            self._report(self._waiting)
            try:
                async with asyncio.timeout(self._wait_s):
                    await self._free.acquire()
            except TimeoutError:
                self._refuse()
            finally:
                self._waiting -= 1
                self._report(self._waiting)
        else:
            await self._free.acquire()  # a free slot: taken without suspending
        try:
            yield
        finally:
            self._free.release()

    def _refuse(self) -> None:
        self._refused("hello")
        raise CloseConnection(CloseCode.TRY_AGAIN_LATER, "node overloaded: reconnect later")
