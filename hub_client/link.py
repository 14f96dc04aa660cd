"""One connection's handshake (protocol.md §2.1): open ``/ws``, say hello, get ``welcome`` or a close code.

And two small helpers of the reply bookkeeping built on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from hub_client.errors import HubClosed, HubUnreachable

__all__ = ["Trace", "close_of", "fail", "first", "open_link"]

Trace = Callable[[str, dict[str, Any]], None]
"""Told of every frame: ``(">", frame)`` sent, ``("<", frame)`` received (for ``listen`` and debugging)."""


async def open_link(
    url: str, token: str, *, device: dict[str, Any] | None, timeout_s: float, trace: Trace | None = None
) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and say hello.

    Args:
        url: ``ws://host:port/ws``.
        token: the access token for the hello.
        device: the hello's optional ``device``.
        timeout_s: for the TCP/HTTP upgrade and then for the ``welcome``.
        trace: told of the hello and of the answer.

    Returns:
        The open connection and its ``welcome`` frame.

    Raises:
        HubUnreachable: refused, timed out, or not a WebSocket endpoint.
        HubClosed: the hub answered with an error and closed (4401 bad token, 4429 too many sockets).
    """
    try:
        ws = await connect(url, open_timeout=timeout_s, max_size=None)
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise HubUnreachable(url, str(exc) or type(exc).__name__) from None
    hello: dict[str, Any] = {"type": "hello", "token": token}
    if device is not None:
        hello["device"] = device
    frame: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout_s):
            if trace is not None:
                trace(">", hello)
            await ws.send(orjson.dumps(hello).decode())
            frame = orjson.loads(await ws.recv())
            if trace is not None:
                trace("<", frame)
            if frame.get("type") != "welcome":  # an error frame, then the close
                await ws.wait_closed()
    except TimeoutError:
        await ws.close()
        raise HubUnreachable(url, "no welcome in time") from None
    except ConnectionClosed:
        pass
    if frame.get("type") != "welcome":
        raise HubClosed(*close_of(ws))
    return ws, frame


def close_of(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason the server sent; 1006 when the connection ended without a close frame."""
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "connection lost")


def fail(reply: asyncio.Future[Any], error: BaseException) -> None:
    """Complete a command's reply with ``error`` unless it is already done."""
    if not reply.done():
        reply.set_exception(error)
        reply.exception()  # retrieved: nobody may be waiting any more


async def first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until one of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
