"""The ``/ws`` ASGI endpoint: checks the browser's ``Origin``, picks a transport, runs one connection."""

from __future__ import annotations

import orjson
from starlette.types import Receive, Scope, Send

from hub.codes import ErrorCode
from hub.hub import Hub
from hub.server import RawTransport
from hub.transport import RAW_EXTENSION, AsgiTransport, FrameTransport

__all__ = ["HubEndpoint", "hub_endpoint", "origin_allowed"]


class HubEndpoint:
    """ASGI app of the hub's WebSocket route; the hub comes from lifespan state (``scope["state"]["hub"]``).

    A class, not a function, so Starlette's ``WebSocketRoute`` passes raw ASGI ``(scope, receive, send)``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(scope, receive, send)


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers send ``Origin``; native apps usually do not. An empty list allows any (and none)."""
    if not allowed or origin is None or "*" in allowed:
        return True
    return origin.rstrip("/") in allowed


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    hub: Hub = scope["state"]["hub"]
    origin = _header(scope, b"origin")
    if not origin_allowed(origin, hub.config.allowed_origins):
        # Cross-site WebSocket hijacking: a page on another site must not open a socket with a user's token.
        hub.metrics.refused_handshakes.labels("origin").inc()
        await _refuse(scope, receive, send, 403, f"origin {origin!r} is not allowed (HUB_ALLOWED_ORIGINS)")
        return
    raw = scope.get("extensions", {}).get(RAW_EXTENSION)
    transport: FrameTransport
    if raw is not None:
        transport = RawTransport(raw["protocol"])
    else:
        transport = AsgiTransport(receive, send)
    await hub.connection(transport).serve()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Refuse the handshake with an HTTP error in the REST envelope when the server can send one, else 403."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        body = orjson.dumps({"error": {"code": ErrorCode.FORBIDDEN.value, "message": message, "details": None}})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})


hub_endpoint = HubEndpoint()
