"""The hub's socket, reached before the REST stack.

A kitchen's tablets come back together after a restart, thousands of upgrades in a few seconds.
Through Starlette each one walked every HTTP middleware (which all let websockets pass untouched),
the exception layer and the router's scan of a hundred-odd REST routes before reaching the hub:
about a tenth of the node's CPU in a reconnect storm (``make bench`` storm scenario, profiled).
This middleware sits first and hands ``/ws`` straight to the hub's endpoint; any other scope goes
on through the app as before.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.endpoint import hub_endpoint

__all__ = ["SOCKET_PATH", "SocketFirst"]

SOCKET_PATH = "/ws"


class SocketFirst:
    def __init__(self, app: ASGIApp, path: str = SOCKET_PATH, endpoint: ASGIApp = hub_endpoint) -> None:
        self.app = app
        self._path = path
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self._path:
            await self._endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
