"""Snapshot, then stream (protocol.md §3): a consistent view of a topic's objects, kept current by its events.

Fetch the snapshot (it carries the topic's ``seq``/``epoch``), subscribe with ``since`` those, apply
every later event in ``seq`` order and never one at or below the view's ``seq``. When the hub
cannot resume (``recovered: false``: history too short, or a restart started a new epoch), or a
gap shows, fetch the snapshot again. Events carry the whole object, so a view is replaced, never patched.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from hub_client.api import Api
from hub_client.frames import Event, Position
from hub_client.socket import HubSocket

__all__ = ["OPEN_STATUSES", "KdsUpdate", "KdsView", "Snapshot", "follow_kds", "snapshot_then_stream"]

OPEN_STATUSES = frozenset({"new", "in_progress", "ready"})
"""Tickets a kitchen screen shows (``GET /api/shifts/{id}/kds`` lists these, oldest first)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot body (``{…, "seq", "epoch"}``), first and again after every refetch."""

    body: dict[str, Any]

    @property
    def position(self) -> Position:
        return Position(int(self.body["seq"]), str(self.body["epoch"]))


async def snapshot_then_stream(
    socket: HubSocket, topic: str, fetch: Callable[[], Awaitable[dict[str, Any]]]
) -> AsyncGenerator[Snapshot | Event, None]:
    """Yield a ``Snapshot``, then each event after it, in order; a new ``Snapshot`` whenever continuity broke.

    Args:
        socket: a connected socket; the subscription is kept across its reconnects.
        topic: a reliable topic (``kds:7``, ``stock:7``).
        fetch: returns the snapshot body with the topic's ``seq`` and ``epoch``.

    The subscription ends when the generator is closed: wrap it in ``contextlib.aclosing`` when you
    may leave the ``async for`` early.
    """
    snapshot = Snapshot(await fetch())
    position = snapshot.position
    yield snapshot
    subscription = await socket.subscribe(topic, since=position)
    try:
        async for item in subscription:
            if isinstance(item, Event) and item.epoch == position.epoch:
                if item.seq <= position.seq:
                    continue  # already in the snapshot
                if item.seq == position.seq + 1:
                    position = item.position
                    yield item
                    continue
            # A Resync, a gap or another epoch: the view may be missing something. Start over from a snapshot;
            # events already queued behind this point are filtered by the new position.
            snapshot = Snapshot(await fetch())
            position = snapshot.position
            yield snapshot
            if isinstance(item, Event) and item.epoch == position.epoch and item.seq == position.seq + 1:
                position = item.position
                yield item
    finally:
        await socket.unsubscribe(topic)


@dataclass(slots=True)
class KdsView:
    """A kitchen screen's state: the open tickets by id (in order of arrival), at ``position``."""

    shift_id: int
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    position: Position = Position(0, "")

    def reset(self, body: dict[str, Any]) -> None:
        self.tickets = {int(t["id"]): t for t in body["tickets"]}
        self.position = Position(int(body["seq"]), str(body["epoch"]))

    def apply(self, event: Event) -> None:
        """Replace the ticket with the event's copy; completed and cancelled ones leave the screen."""
        ticket = event.data
        if ticket.get("status") in OPEN_STATUSES:
            self.tickets[int(ticket["id"])] = ticket
        else:
            self.tickets.pop(int(ticket["id"]), None)
        self.position = event.position

    def open_tickets(self) -> list[dict[str, Any]]:
        """Oldest first, as the snapshot lists them."""
        return sorted(self.tickets.values(), key=lambda t: (t.get("created_at", ""), t.get("number", 0)))


@dataclass(frozen=True, slots=True)
class KdsUpdate:
    """One step of ``follow_kds``: the view after it, and the event applied (None: a snapshot was (re)loaded)."""

    view: KdsView
    event: Event | None


async def follow_kds(api: Api, socket: HubSocket, shift_id: int) -> AsyncGenerator[KdsUpdate, None]:
    """A kitchen screen for ``shift_id``: first the open tickets, then one update per ticket change.

    Args:
        api: logged in as someone who may see the shift (its staff, a manager, an admin).
        socket: connected with the same user.
        shift_id: the shift.

    Yields:
        ``KdsUpdate`` with ``event=None`` for the first snapshot and each refetch, else the event applied.
    """
    view = KdsView(shift_id)

    async def fetch() -> dict[str, Any]:
        body: dict[str, Any] = await api.get(f"/api/shifts/{shift_id}/kds")
        return body

    async with aclosing(snapshot_then_stream(socket, f"kds:{shift_id}", fetch)) as items:
        async for item in items:
            if isinstance(item, Snapshot):
                view.reset(item.body)
                yield KdsUpdate(view, None)
            else:
                view.apply(item)
                yield KdsUpdate(view, item)
