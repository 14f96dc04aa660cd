"""``HubSocket``: one resilient connection to ``/ws`` (protocol.md §2).

It says hello, matches replies to commands by id, hands events to subscriptions, and, after a
drop, reconnects with full-jitter backoff and resubscribes every topic with ``since`` so nothing is
missed or repeated. What it does on each close code is ``reconnect.after_close``. Access tokens are
refreshed before they expire (REST, then the ``refresh`` command on the open socket).

One reader task per connection feeds every subscription, so items keep the hub's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hub_client.api import StaticToken, TokenProvider
from hub_client.errors import ApiError, CommandError, ConnectionLost, HubClosed, HubUnreachable, LoginRequired
from hub_client.frames import Event, Item, Position, Status
from hub_client.link import Trace, close_of, open_link
from hub_client.reconnect import Action, Backoff, after_close
from hub_client.subscription import Accept, Subscription

__all__ = ["HubSocket"]

log = logging.getLogger("hub_client")


class HubSocket:
    """A socket that stays connected until ``close()`` or a close code that says stop.

    Args:
        url: ``ws://host:port/ws`` (``Api.ws_url``).
        tokens: an ``Api`` after ``login`` (refreshed before expiry), or a bare access token.
        device: the hello's ``device`` (``{"id": "tablet-7", "kind": "kds"}``).
        backoff: reconnect delays.
        on_status: told of every ``open`` / ``offline`` / ``closed``.
        reply_timeout_s: how long the hello and each command may wait for a reply.
        trace: told of every frame sent and received, as decoded (tokens included: redact before printing).
    """

    def __init__(
        self,
        url: str,
        tokens: TokenProvider | str,
        *,
        device: dict[str, Any] | None = None,
        backoff: Backoff | None = None,
        on_status: Callable[[Status], None] | None = None,
        reply_timeout_s: float = 10.0,
        rng: random.Random | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.url = url
        self._tokens: TokenProvider = StaticToken(tokens) if isinstance(tokens, str) else tokens
        self._device = device
        self.backoff = backoff or Backoff()
        self._on_status = on_status
        self.reply_timeout_s = reply_timeout_s
        self._rng = rng or random.Random()
        self._trace = trace
        self.welcome: dict[str, Any] | None = None
        """The latest ``welcome`` (``conn_id``, ``user``, ``heartbeat_s``, ``limits``)."""
        self.opened = 0
        """Connections that reached ``welcome`` so far."""
        self._subs: dict[str, Subscription] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._presented = ""  # the access token this connection's hub knows
        self._online = asyncio.Event()
        self._done = asyncio.Event()
        self._error: HubClosed | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> HubSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Open the first connection (one attempt), then keep one open until ``close()``.

        Returns:
            The ``welcome`` frame.

        Raises:
            HubUnreachable: nothing answers at the URL.
            LoginRequired: the token is refused even after one refresh.
            HubClosed: the hub refused the connection (e.g. 4429: too many sockets).
        """
        self._attach(await self._open())
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._refresh_loop())]
        assert self.welcome is not None
        return self.welcome

    async def close(self) -> None:
        """Close for good (code 1000): subscriptions end, waiting commands raise ``ConnectionLost``."""
        self._done.set()
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._finish(None)

    async def wait_closed(self) -> None:
        """Return once the socket stopped; raise why if the hub stopped it (``LoginRequired``, ``HubClosed``)."""
        await self._done.wait()
        if self._error is not None:
            raise self._error

    @property
    def online(self) -> bool:
        return self._online.is_set()

    def subscription(self, topic: str) -> Subscription | None:
        """The live subscription to ``topic`` (its ``position`` is what a resume would send)."""
        return self._subs.get(topic)

    # --- commands (protocol.md §2.2) ---------------------------------------------------------------

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
        if self._ws is not None:  # offline: the next connection sends it (see _attach)
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
                with contextlib.suppress(ConnectionLost):
                    await self.command({"type": "unsubscribe", "topic": topic})

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

    async def command(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send any command with a fresh ``id`` and return the reply echoing it; waits for a connection if offline.

        Raises:
            CommandError: an error frame answered it.
            ConnectionLost: the connection dropped first (the command may have run).
            HubClosed: the socket has stopped.
            TimeoutError: no reply within ``reply_timeout_s``.
        """
        async with asyncio.timeout(self.reply_timeout_s):
            while self._ws is None:
                if self._done.is_set():
                    raise self._error or ConnectionLost("socket closed")
                await _first(self._online.wait(), self._done.wait())
            command_id, reply = self._expect()
            await self._write(self._ws, {**frame, "id": command_id}, reply)
            answer = await reply
        if answer["type"] == "error":
            raise CommandError(str(answer.get("code")), str(answer.get("message")))
        return answer

    def _expect(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """A fresh command id and the future its reply completes (the reader matches replies by id)."""
        command_id = f"c{next(self._ids)}"
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = reply
        reply.add_done_callback(lambda _: self._pending.pop(command_id, None))
        return command_id, reply

    async def _write(self, ws: ClientConnection, frame: dict[str, Any], reply: asyncio.Future[Any]) -> None:
        if self._trace is not None:
            self._trace(">", frame)
        try:
            await ws.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            _fail(reply, ConnectionLost("connection closed before the command was sent"))

    async def _send_subscribe(self, ws: ClientConnection, sub: Subscription) -> None:
        command_id, reply = self._expect()
        reply.add_done_callback(lambda done: self._subscribe_answered(sub, done))
        await self._write(ws, sub.frame(command_id), reply)

    def _subscribe_answered(self, sub: Subscription, reply: asyncio.Future[dict[str, Any]]) -> None:
        if reply.cancelled() or reply.exception() is not None:
            return  # connection lost: the next connection resubscribes
        frame = reply.result()
        if frame["type"] == "error" and self._subs.get(sub.topic) is sub:
            del self._subs[sub.topic]
            sub.fail(CommandError(str(frame.get("code")), str(frame.get("message"))))

    # --- one connection ----------------------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        """Connect and say hello; refused with 4401, refresh the token once and try again."""
        try:
            return await self._hello(await self._tokens.access_token())
        except HubClosed as exc:
            if exc.code != 4401:
                raise
        try:
            return await self._hello(await self._tokens.renew())
        except HubClosed as again:
            raise LoginRequired(again.reason or "token refused") if again.code == 4401 else again from None

    async def _hello(self, token: str) -> ClientConnection:
        link = open_link(self.url, token, device=self._device, timeout_s=self.reply_timeout_s, trace=self._trace)
        ws, self.welcome = await link
        self._presented = token
        return ws

    def _attach(self, ws: ClientConnection) -> None:
        """Go online and resubscribe everything registered so far, with no await in between: a
        ``subscribe()`` racing the reconnect is then sent exactly once, by itself or by this loop."""
        self._ws = ws
        self.opened += 1
        self._online.set()
        for sub in list(self._subs.values()):
            self._spawn(self._send_subscribe(ws, sub))
        self._status(Status("open"))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._sending.add(task)  # a strong reference until done: bare tasks may be garbage-collected
        task.add_done_callback(self._sending.discard)

    async def _read(self, ws: ClientConnection) -> tuple[int, str]:
        """Dispatch frames until the connection ends; returns the close code and reason."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = orjson.loads(raw)
                if self._trace is not None:
                    self._trace("<", frame)
                kind = frame.get("type")
                if kind == "event":
                    if not await self._event(Event.from_frame(frame)):
                        await ws.close(1000, "gap: resuming")
                        return 1006, "gap in a stream: resuming"
                    continue
                if kind == "subscribed" and (sub := self._subs.get(frame["topic"])) is not None:
                    # §2.2: "subscribed" precedes that subscription's events, so the Resync does too.
                    resync = sub.subscribed(frame)
                    if resync is not None:
                        await sub.deliver(resync)
                reply = self._pending.get(str(frame.get("id")))
                if reply is not None and not reply.done():
                    reply.set_result(frame)
                elif kind == "error":
                    log.info("hub error: %s: %s", frame.get("code"), frame.get("message"))
        return close_of(ws)

    async def _event(self, event: Event) -> bool:
        """Deliver an event unless already seen; False on a gap (the caller reconnects and resumes)."""
        sub = self._subs.get(event.topic)
        if sub is None:
            return True  # unsubscribed meanwhile
        verdict = sub.accept(event)
        if verdict is Accept.DELIVER:
            await sub.deliver(event)
        return verdict is not Accept.GAP

    def _detach(self) -> None:
        self._online.clear()
        self._ws = None
        for reply in list(self._pending.values()):
            _fail(reply, ConnectionLost("connection closed before the reply"))

    # --- staying connected -------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        try:
            while self._ws is not None:
                opened_at = time.monotonic()
                code, reason = await self._read(self._ws)
                self._detach()
                if time.monotonic() - opened_at >= self.backoff.stable_s:
                    attempt = 0
                ws, attempt = await self._reconnect(code, reason, attempt)
                self._attach(ws)
        except HubClosed as exc:
            self._finish(exc)

    async def _reconnect(self, code: int, reason: str, attempt: int) -> tuple[ClientConnection, int]:
        """Wait and retry until a welcome; raises ``HubClosed`` when the code says stop.

        After 4401 the retry is immediate: ``_open`` presents the current token (a deleted device or a
        clock-skewed expiry passes again) and, refused, refreshes it once; refused again: ``LoginRequired``.
        """
        while True:
            action = after_close(code)
            if action is Action.STOP:
                raise HubClosed(code, reason)
            delay = 0.0
            if action is not Action.REFRESH:
                delay = self.backoff.delay(attempt, self._rng, rate_limited=action is Action.BACK_OFF)
            self._status(Status("offline", code, reason, delay))
            await asyncio.sleep(delay)
            attempt += 1
            try:
                return await self._open(), attempt
            except HubUnreachable as exc:
                code, reason = 1006, exc.reason
            except LoginRequired:
                raise
            except HubClosed as exc:
                code, reason = exc.code, exc.reason
            except ApiError as exc:  # the token refresh failed for now (503, 429): keep trying
                code, reason = 1011, str(exc)

    async def _refresh_loop(self) -> None:
        """Refresh the access token before it expires and tell the open connection (``refresh`` command)."""
        while (due := self._tokens.refresh_due()) is not None:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            try:
                token = await self._tokens.access_token()
            except LoginRequired as exc:
                self._finish(exc)
                return
            except (HubUnreachable, ApiError):
                await asyncio.sleep(self.backoff.delay(3, self._rng))  # down or busy: retry within ~4 s
                continue
            if token != self._presented and self._ws is not None:
                with contextlib.suppress(ConnectionLost, TimeoutError):  # else the next hello presents it
                    await self.command({"type": "refresh", "token": token})
                    self._presented = token

    def _finish(self, error: HubClosed | None) -> None:
        if self._error is None:
            self._error = error
        ws = self._ws
        self._done.set()
        self._detach()
        for sub in self._subs.values():
            sub.end(error)
        self._subs.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if ws is not None:
            self._spawn(ws.close())
        self._status(Status("closed", None if error is None else error.code, "" if error is None else str(error)))

    def _status(self, status: Status) -> None:
        if self._on_status is not None:
            self._on_status(status)


def _fail(reply: asyncio.Future[Any], error: BaseException) -> None:
    if not reply.done():
        reply.set_exception(error)
        reply.exception()  # retrieved: nobody may be waiting any more


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
