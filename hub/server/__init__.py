"""The hub's WebSocket server side for uvicorn: the upgrade, its own framing, one heartbeat, the raw path.

handshake.py  the HTTP upgrade: a strict sans-I/O parser and its answers (nothing of it outlives the 101)
heartbeat.py  one timer pinging every socket; 4408 for an unanswered ping
protocol.py   the asyncio protocol uvicorn runs per upgraded connection (frames: hub.wire)
asgi.py       standard ASGI websocket messages for whatever app answers the upgrade
raw.py        the hub's fast path (FrameTransport) over that protocol
options.py    the uvicorn settings that select all this
"""

from __future__ import annotations

from hub.server.heartbeat import Heartbeat
from hub.server.options import uvicorn_ws_options
from hub.server.protocol import CROWDED_STATE_KEY, HEARTBEAT_STATE_KEY, HubWebSocketProtocol
from hub.server.raw import RawTransport

__all__ = [
    "CROWDED_STATE_KEY",
    "HEARTBEAT_STATE_KEY",
    "Heartbeat",
    "HubWebSocketProtocol",
    "RawTransport",
    "uvicorn_ws_options",
]
