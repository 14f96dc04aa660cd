"""``Connection``: the part of a hub socket that knows nothing of topics (protocol.md §2.1, §2.6, §2.7).

It keeps one connection open: hello, replies matched to commands by id, and after a close the
action ``reconnect.after_close`` names, with full-jitter backoff between attempts. It refreshes the
access token before it expires and presents the new one with the ``refresh`` command. ``HubSocket``
adds topics on top through three hooks: ``_opened`` (after each welcome), ``_frame`` (every frame
that is not a reply) and ``_stopped`` (once, at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypedDict

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hub_client.api import StaticToken, TokenProvider
from hub_client.errors import ApiError, CommandError, ConnectionLost, HubClosed, HubUnreachable, LoginRequired
from hub_client.frames import Status
from hub_client.link import Trace, close_of, fail, first, open_link
from hub_client.reconnect import Action, Backoff, after_close
from hub_client.replies import Replies

__all__ = ["Connection", "Options"]


class Options(TypedDict, total=False):
    """The keyword arguments of ``Connection`` and ``HubSocket``."""

    device: dict[str, Any] | None
    backoff: Backoff | None
    on_status: Callable[[Status], None] | None
    reply_timeout_s: float
    rng: random.Random | None
    trace: Trace | None


class Connection:
    """See ``HubSocket`` for the arguments; this base class is not meant to be used alone."""

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
        self._replies = Replies()
        self._ws: ClientConnection | None = None
        self._presented = ""  # the access token the hub knows this connection by
        self._online = asyncio.Event()
        self._done = asyncio.Event()
        self._error: HubClosed | None = None
        self._finished = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()

    # --- hooks -------------------------------------------------------------------------------------

    def _opened(self, ws: ClientConnection) -> None:
        """After each welcome, before any frame is read (no await: see ``_attach``)."""

    async def _frame(self, frame: dict[str, Any]) -> bool:
        """Every frame but replies to commands go here first; False: reconnect (a gap was seen)."""
        return True

    def _stopped(self, error: HubClosed | None) -> None:
        """Once, when the connection stops for good (``error`` None after ``close()``)."""

    # --- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
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
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
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

    # --- commands ----------------------------------------------------------------------------------

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
                await first(self._online.wait(), self._done.wait())
            command_id, reply = self._replies.expect()
            await self._write(self._ws, {**frame, "id": command_id}, reply)
            answer = await reply
        if answer["type"] == "error":
            raise CommandError(str(answer.get("code")), str(answer.get("message")))
        return answer

    async def _write(self, ws: ClientConnection, frame: dict[str, Any], reply: asyncio.Future[Any]) -> None:
        if self._trace is not None:
            self._trace(">", frame)
        try:
            await ws.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            fail(reply, ConnectionLost("connection closed before the command was sent"))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._sending.add(task)  # a strong reference until done: bare tasks may be garbage-collected
        task.add_done_callback(self._sending.discard)

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
        """Go online and let ``_opened`` resend what it must, with no await in between: a command racing
        the reconnect then goes out exactly once, either through ``_opened`` or by itself."""
        self._ws = ws
        self.opened += 1
        self._online.set()
        self._opened(ws)
        self._status(Status("open"))

    async def _read(self, ws: ClientConnection) -> tuple[int, str]:
        """Dispatch frames until the connection ends; returns the close code and reason."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = orjson.loads(raw)
                if self._trace is not None:
                    self._trace("<", frame)
                if not await self._frame(frame):
                    await ws.close(1000, "gap: resuming")
                    return 1006, "gap in a stream: resuming"
                self._replies.received(frame)
        return close_of(ws)

    def _detach(self) -> None:
        self._online.clear()
        self._ws = None
        self._replies.lost("connection closed before the reply")

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
        if self._finished:
            return
        self._finished = True
        self._error = error
        ws = self._ws
        self._done.set()
        self._detach()
        self._stopped(error)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if ws is not None:
            self._spawn(ws.close())
        self._status(Status("closed", None if error is None else error.code, "" if error is None else str(error)))

    def _status(self, status: Status) -> None:
        if self._on_status is not None:
            self._on_status(status)
