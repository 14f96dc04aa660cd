"""The Broker interface: how publications travel between hub nodes and where history lives.

Guarantees every implementation owes:
- ``publish`` on a reliable topic assigns the next ``seq`` and appends to the topic's
  history atomically (one step per topic, across all nodes); it returns only once
  the publication is stored, and every node's handler is then called with it
  (at most once per node; the memory broker calls it before returning).
- ``seq`` on one topic is gap-free within an ``epoch``; a new epoch means history was lost.
- conflated topics get increasing ``seq`` but no history.
- a publication carrying a ``guard`` (an increasing number per topic, e.g. an outbox row id) is
  stored at most once: a guard not above the topic's last one is a repeat and is skipped. A
  publisher that cannot know whether its last attempt landed (timeout, crash) retries safely.
- the handler is a plain callable run on the event loop: it must not block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from hub.history import HistoryResult, Publication
from hub.protocol.commands import Position

__all__ = ["Broker", "BrokerEventHandler", "BrokerUnavailable"]


class BrokerUnavailable(Exception):
    """The broker cannot be reached: nothing was published."""


class BrokerEventHandler(Protocol):
    def __call__(self, publication: Publication, /) -> None: ...


class Broker(Protocol):
    single_node: bool
    """True when this process is the only node (publications need not leave it)."""
    up: bool
    """False from the moment the broker is found unreachable until it answers again (``/readyz``, metrics)."""
    reconnects: int
    """How many times the live channel was re-established after being lost."""
    dropped_volatile: int
    """Volatile publications dropped because the broker was down."""

    async def start(self, handler: BrokerEventHandler, on_reconnect: Callable[[], None] | None = None) -> None:
        """Begin delivering publications of subscribed topics to ``handler``.

        ``on_reconnect`` is called after the live channel was lost and re-established: whatever was
        published meanwhile never reached ``handler`` and must be read back from history.
        """
        ...

    async def publish(
        self,
        topic: str,
        event: str,
        data: bytes,
        *,
        reliable: bool,
        ts: float,
        key: str | None = None,
        guard: int | None = None,
    ) -> Publication | None:
        """Assign ``seq``, store (reliable topics), and fan out to every node; ``key`` is the conflation key.

        Returns None, doing nothing, when ``guard`` is not above the topic's last guard (a repeat).

        Raises:
            BrokerUnavailable: nothing was stored or sent.
        """
        ...

    def publish_volatile(self, topic: str, event: str, data: bytes, *, ts: float, key: str) -> None:
        """Fire-and-forget for conflated topics (GPS): every node's handler gets it, nothing is stored.

        Never blocks and never raises: the ingest path calls it per ping. The ``seq`` it
        carries is meaningless; the receiving hub numbers conflated publications itself.
        A networked broker may queue and send in batches, and drop (and count) when down.
        """
        ...

    async def subscribe(self, topics: Iterable[str]) -> None:
        """This node has local subscribers for ``topics`` (pub/sub interest)."""
        ...

    async def unsubscribe(self, topics: Iterable[str]) -> None: ...

    async def history(self, topic: str, after: int | None) -> HistoryResult:
        """Publications with ``seq > after`` still in history, and the topic's top position."""
        ...

    async def position(self, topic: str) -> Position:
        """The topic's current top, for snapshots (protocol.md §3 "Snapshot + stream")."""
        ...

    async def ping(self) -> None:
        """Raise if the broker is not reachable (``/readyz``)."""
        ...

    async def close(self) -> None: ...
