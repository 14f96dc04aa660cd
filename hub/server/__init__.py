"""The hub's WebSocket server side for uvicorn: the upgrade, its own framing, one heartbeat, the raw path.

handshake.py  the HTTP upgrade: a strict sans-I/O parser and its answers (nothing of it outlives the 101)
upgrade.py    a connection's HTTP side until its 101: refused, paced, or handed to the app
pacer.py      how many sockets may be opening at once; the others wait for their 101
heartbeat.py  one timer pinging every socket; 4408 for an unanswered ping
protocol.py   the asyncio protocol uvicorn runs per upgraded connection (frames: hub.wire)
asgi.py       standard ASGI websocket messages for whatever app answers the upgrade
raw.py        the hub's fast path (FrameTransport) over that protocol
options.py    the uvicorn settings that select all this
"""

from __future__ import annotations

from hub.server.heartbeat import Heartbeat
from hub.server.options import uvicorn_ws_options
from hub.server.protocol import HEARTBEAT_STATE_KEY, HubWebSocketProtocol
from hub.server.raw import RawTransport
from hub.server.upgrade import CROWDED_STATE_KEY, PACER_STATE_KEY

__all__ = [
    "CROWDED_STATE_KEY",
    "HEARTBEAT_STATE_KEY",
    "PACER_STATE_KEY",
    "Heartbeat",
    "HubWebSocketProtocol",
    "RawTransport",
    "uvicorn_ws_options",
]
