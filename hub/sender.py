"""The outbound half of a connection: cork, bounded outbox, lazy writer task, closing.

Fast path (raw transport, socket keeping up): a frame is appended to the connection's
*cork*; one ``call_soon`` per loop iteration (:class:`Corker`) writes each corked
connection's frames with a single ``transport.write``. No task switch and no await
per delivery, and several events for one connection in one iteration cost one syscall.

Slow path (socket backpressured, or a plain-ASGI transport): frames go to the
bounded :class:`~hub.outbox.Outbox`, drained by a writer task created on first need.
Overflow of a reliable frame closes 4500; conflated frames replace by key.

Order is kept because the fast path is used only while the outbox is empty, and the
writer takes from the outbox only once the socket is writable, then writes without
awaiting (so nothing can overtake a batch it holds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from typing import Any

from hub.codes import CloseCode
from hub.outbox import Outbox
from hub.tasks import TaskSet
from hub.transport import FrameTransport

__all__ = ["Corker", "SendStats", "Sender"]


class SendStats:
    """Plain counters on the hot path; folded into Prometheus by the hub's ticker (a lock per frame costs too much)."""

    __slots__ = ("frames", "latency_samples", "received")

    def __init__(self) -> None:
        self.frames = 0
        self.latency_samples: list[float] = []
        self.received: dict[str, int] = {}  # frames received by command type (``invalid`` for refused ones)


class Corker:
    """Collects connections with corked frames and flushes them all in one callback per loop iteration."""

    __slots__ = ("_dirty", "_loop", "_oldest", "_scheduled", "stats")

    def __init__(self, stats: SendStats) -> None:
        self.stats = stats
        self._dirty: list[Sender] = []
        self._scheduled = False
        self._oldest: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, sender: Sender, published_at: float | None) -> None:
        self._dirty.append(sender)
        if published_at is not None and self._oldest is None:
            self._oldest = published_at
        if not self._scheduled:
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush)

    def note_publication(self, published_at: float) -> None:
        if self._oldest is None:
            self._oldest = published_at

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for sender in dirty:
            sender.flush_cork()
        if self._oldest is not None:
            # one sample per flush: publish → bytes handed to the kernel (hub_publish_to_send_seconds)
            self.stats.latency_samples.append(time.time() - self._oldest)
            self._oldest = None


class Sender:
    __slots__ = (
        "_close_task",
        "_cork",
        "_corker",
        "_tasks",
        "_transport",
        "_limit",
        "_outbox",
        "_wake",
        "_writer",
        "close_request",
        "drops",
        "log",
        "name",
    )

    def __init__(
        self,
        *,
        name: str,
        transport: FrameTransport,
        corker: Corker,
        tasks: TaskSet,
        limit: int,
        log: logging.LoggerAdapter[Any],
        drops: Any,
    ) -> None:
        self.name = name
        self._transport = transport
        self._corker = corker
        self._tasks = tasks
        self._limit = limit
        self._outbox: Outbox | None = None  # created on first backpressure: most connections never need one
        self.log = log
        self.drops = drops
        """``hub_dropped_frames_total`` (labelled by reason)."""
        self._cork: list[bytes] | None = None
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.close_request: tuple[CloseCode, str] | None = None

    # ---- delivery: never awaits ----

    def push(self, wire: bytes, published_at: float | None = None) -> None:
        """Send a complete wire frame; overflow closes 4500 (protocol.md §2.6)."""
        cork = self._cork
        if cork is not None:  # most common under load: this connection already has frames this iteration
            cork.append(wire)
        elif self.close_request is not None:
            return
        elif self._transport.direct and ((ob := self._outbox) is None or not ob.queue):
            self._cork = [wire]
            self._corker.add(self, published_at)
        else:
            self._queue(wire, published_at)

    def push_conflated(self, key: Hashable, wire: bytes, published_at: float | None = None) -> None:
        """Like ``push`` while the socket keeps up; when backlogged, keep only the newest frame per ``key``."""
        if self.close_request is not None:
            return
        if self._cork is not None or (self._transport.direct and ((ob := self._outbox) is None or not ob.queue)):
            self.push(wire, published_at)
            return
        if self.outbox.offer_conflated(key, wire, published_at):
            self.drops.labels("conflated").inc()
        self._wake_writer()

    @property
    def outbox(self) -> Outbox:
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = Outbox(self._limit)
        return outbox

    def flush_cork(self) -> None:
        """Called by the corker: write everything corked in one go, or queue it if the socket is full."""
        cork, self._cork = self._cork, None
        if not cork or self.close_request is not None:
            return
        data = cork[0] if len(cork) == 1 else b"".join(cork)
        if self._transport.try_write(data):
            self._corker.stats.frames += len(cork)
            return
        for wire in cork:
            self._queue(wire, None)

    def _queue(self, wire: bytes, published_at: float | None) -> None:
        if self.outbox.offer(wire, published_at) is not None:
            self.drops.labels("slow_consumer").inc(len(self.outbox) + 1)
            self.request_close(CloseCode.SLOW_CONSUMER, "outbound buffer overflowed", flush=False)
            return
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._writer is None:
            self._wake = asyncio.Event()
            self._writer = self._tasks.spawn(self._write_loop(), name=f"writer-{self.name}")
        assert self._wake is not None
        self._wake.set()

    async def _write_loop(self) -> None:
        assert self._wake is not None
        wake, outbox, transport, stats = self._wake, self.outbox, self._transport, self._corker.stats
        while True:
            await wake.wait()
            wake.clear()
            await transport.wait_writable()  # before taking: pushes meanwhile queue behind this batch
            batch, stamp = outbox.take()
            if batch:
                await transport.send_frames(batch)
                stats.frames += len(batch)
                if stamp is not None:
                    stats.latency_samples.append(time.time() - stamp)
            if self.close_request is not None and not outbox.queue:
                code, reason = self.close_request
                await transport.close(int(code), reason)
                return

    # ---- closing ----

    def request_close(self, code: CloseCode, reason: str, *, flush: bool) -> None:
        """Close with ``code``: after every pending frame when ``flush``, else at once, dropping them."""
        if self.close_request is not None:
            return
        cork, self._cork = self._cork, None
        if flush:
            for wire in cork or ():
                self.outbox.offer(wire)  # corked frames go first, in order; never refused for space here
            self.close_request = (code, reason)
            self._wake_writer()
            return
        self.close_request = (code, reason)
        dropped = self.outbox.clear() + len(cork or ())
        if dropped and code is not CloseCode.SLOW_CONSUMER:
            self.drops.labels("closing").inc(dropped)
        if self._writer is not None and not self._writer.done():
            # The writer may be parked on a socket that never drains (the slow consumer itself).
            self._writer.cancel()
        self._close_task = self._tasks.spawn(self._close_now(code, reason), name=f"close-{self.name}")

    def stalled(self) -> None:
        """The peer stopped reading with frames still unwritten: close 4500 now, dropping what waits.

        It resumes with ``since`` (what the kernel holds still reaches it before the close frame). A close
        already waiting to flush behind this reader would wait forever: it goes out now, with its own code.
        """
        if self.close_request is None:
            pending = len(self._outbox or ()) + len(self._cork or ())
            if pending:
                self.drops.labels("slow_consumer").inc(pending)
            self.request_close(CloseCode.SLOW_CONSUMER, "not reading", flush=False)
        elif self._close_task is None:
            code, reason = self.close_request
            self.close_request = None
            self.request_close(code, reason, flush=False)

    async def _close_now(self, code: CloseCode, reason: str) -> None:
        try:
            await self._transport.close(int(code), reason)
        except Exception:  # the peer is already gone: nothing left to tell it
            self.log.debug("close failed", exc_info=True)

    async def wait_closed(self, timeout: float) -> None:
        """Wait (bounded) until the close frame is out; cancel the writer if it cannot get there."""
        task = self._writer if self._close_task is None else self._close_task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (TimeoutError, Exception):
            task.cancel()

    def abandon(self) -> None:
        """The peer is gone: stop writing."""
        self._cork = None
        if self._writer is not None and not self._writer.done() and self.close_request is None:
            self._writer.cancel()
