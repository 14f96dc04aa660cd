"""The ``/ws`` ASGI endpoint: picks a transport and runs one :class:`~hub.connection.Connection`."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from hub.connection import Connection
from hub.hub import Hub
from hub.server import RawTransport
from hub.transport import RAW_EXTENSION, AsgiTransport, FrameTransport

__all__ = ["HubEndpoint", "hub_endpoint"]


class HubEndpoint:
    """ASGI app of the hub's WebSocket route; the hub comes from lifespan state (``scope["state"]["hub"]``).

    A class, not a function, so Starlette's ``WebSocketRoute`` passes raw ASGI ``(scope, receive, send)``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(scope, receive, send)


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    hub: Hub = scope["state"]["hub"]
    raw = scope.get("extensions", {}).get(RAW_EXTENSION)
    transport: FrameTransport
    if raw is not None:
        transport = RawTransport(raw["protocol"], receive, send)
    else:
        transport = AsgiTransport(receive, send)
    await Connection(hub, transport, hub.new_connection_id()).serve()


hub_endpoint = HubEndpoint()
