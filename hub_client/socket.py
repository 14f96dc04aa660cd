"""``HubSocket``: topics on a resilient connection (protocol.md §2.2-§2.4).

Subscriptions outlive connections: after each reconnect every one is sent again with ``since``,
its last position, so the hub replays what was missed (no gap, no duplicate) or says
``recovered: false``, which reaches the subscriber as a ``Resync`` (refetch the snapshot). The
connection's single reader feeds every subscription, so items keep the hub's order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Unpack

from websockets.asyncio.client import ClientConnection

from hub_client.api import TokenProvider
from hub_client.connection import Connection, Options
from hub_client.errors import CommandError, ConnectionLost, HubClosed
from hub_client.frames import Event, Item, Position
from hub_client.subscription import Accept, Subscription

__all__ = ["HubSocket"]

log = logging.getLogger("hub_client")


class HubSocket(Connection):
    """A socket that stays connected until ``close()`` or a close code that says stop.

    Args:
        url: ``ws://host:port/ws`` (``Api.ws_url``).
        tokens: an ``Api`` after ``login`` (refreshed before expiry), or a bare access token.
        device: the hello's ``device`` (``{"id": "tablet-7", "kind": "kds"}``).
        backoff: reconnect delays (``Backoff()``: full jitter, 0.5 s base, 30 s cap).
        on_status: told of every ``open`` / ``offline`` / ``closed``.
        reply_timeout_s: how long the hello and each command may wait for a reply.
        rng: the random source of the jitter.
        trace: told of every frame sent and received, as decoded (tokens included: redact before printing).
    """

    def __init__(self, url: str, tokens: TokenProvider | str, **options: Unpack[Options]) -> None:
        super().__init__(url, tokens, **options)
        self._subs: dict[str, Subscription] = {}

    def subscription(self, topic: str) -> Subscription | None:
        """The live subscription to ``topic`` (its ``position`` is what a resume would send)."""
        return self._subs.get(topic)

    async def subscribe(
        self, topic: str, *, since: Position | None = None, on_item: Callable[[Item], None] | None = None
    ) -> Subscription:
        """Subscribe (kept across reconnects until ``unsubscribe``); returns once ``subscribed`` came back.

        Args:
            topic: e.g. ``kds:42``.
            since: resume from a snapshot's ``seq``/``epoch``; a ``Resync`` item follows if the hub cannot.
            on_item: called with each item instead of queueing it for ``async for``.

        Raises:
            CommandError: ``forbidden``, ``not_found``, ``rate_limited`` (too many topics).
        """
        if topic in self._subs:
            raise ValueError(f"already subscribed to {topic}")
        if self._done.is_set():
            raise self._error or ConnectionLost("socket closed")
        sub = Subscription(topic, since=since, on_item=on_item)
        self._subs[topic] = sub
        if self._ws is not None:  # offline: the next connection sends it (see _opened)
            await self._send_subscribe(self._ws, sub)
        try:
            async with asyncio.timeout(self.reply_timeout_s if self.online else None):
                await sub.wait_ready()
        except BaseException:
            if self._subs.get(topic) is sub:
                del self._subs[topic]
            raise
        return sub

    async def unsubscribe(self, topic: str) -> None:
        """Stop a subscription; its iterator ends. No event of it follows (§2.2)."""
        sub = self._subs.pop(topic, None)
        if sub is not None:
            sub.end()
            if self.online:
                try:
                    await self.command({"type": "unsubscribe", "topic": topic})
                except (ConnectionLost, HubClosed):
                    pass  # gone with the connection anyway

    async def publish(self, topic: str, event: str, data: dict[str, Any]) -> int:
        """Post on a ``notice:`` topic (admin, manager); returns the event's ``seq``."""
        return int((await self.command({"type": "publish", "topic": topic, "event": event, "data": data}))["seq"])

    async def ping(self) -> float:
        """A round trip through the hub; returns its ``server_time``."""
        return float((await self.command({"type": "ping"}))["server_time"])

    async def gps(self, lat: float, lon: float, ts: float | None = None, **extra: float) -> None:
        """A driver's position (``accuracy``, ``speed``, ``heading`` optional); returns once acknowledged."""
        await self.command({"type": "gps", "lat": lat, "lon": lon, "ts": time.time() if ts is None else ts, **extra})

    async def presence(self, topic: str) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = (await self.command({"type": "presence", "topic": topic}))["members"]
        return members

    async def _send_subscribe(self, ws: ClientConnection, sub: Subscription) -> None:
        command_id, reply = self._replies.expect()
        reply.add_done_callback(lambda done: self._subscribe_answered(sub, done))
        await self._write(ws, sub.frame(command_id), reply)

    def _subscribe_answered(self, sub: Subscription, reply: asyncio.Future[dict[str, Any]]) -> None:
        if reply.cancelled() or reply.exception() is not None:
            return  # connection lost: the next connection resubscribes
        frame = reply.result()
        if frame["type"] == "error" and self._subs.get(sub.topic) is sub:
            del self._subs[sub.topic]
            sub.fail(CommandError(str(frame.get("code")), str(frame.get("message"))))

    # --- the connection's hooks --------------------------------------------------------------------

    def _opened(self, ws: ClientConnection) -> None:
        for sub in list(self._subs.values()):  # each with since = its last position
            self._spawn(self._send_subscribe(ws, sub))

    async def _frame(self, frame: dict[str, Any]) -> bool:
        kind = frame.get("type")
        if kind == "event":
            return await self._event(Event.from_frame(frame))
        if kind == "subscribed" and (sub := self._subs.get(frame["topic"])) is not None:
            # §2.2: "subscribed" precedes that subscription's events, so the Resync does too.
            resync = sub.subscribed(frame)
            if resync is not None:
                await sub.deliver(resync)
        elif kind == "error" and frame.get("id") is None:
            log.info("hub error: %s: %s", frame.get("code"), frame.get("message"))
        return True

    async def _event(self, event: Event) -> bool:
        """Deliver an event unless already seen; False on a gap (the connection reconnects and resumes)."""
        sub = self._subs.get(event.topic)
        if sub is None:
            return True  # unsubscribed meanwhile
        verdict = sub.accept(event)
        if verdict is Accept.DELIVER:
            await sub.deliver(event)
        return verdict is not Accept.GAP

    def _stopped(self, error: HubClosed | None) -> None:
        for sub in self._subs.values():
            sub.end(error)
        self._subs.clear()
