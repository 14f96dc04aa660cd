"""Sans-I/O RFC 6455 framing for the server side: frames out, client frames in, the closing handshake.

    frames.py      server frame encoders (unmasked), opcodes, close payloads and code rules
    mask.py        fast pure-Python unmasking (§5.3)
    events.py      what parsing yields: messages, pings, pongs, close, failure
    parser.py      FrameParser: client bytes, split anywhere, to events; failures as values
    connection.py  ServerConnection: OPEN → CLOSING → CLOSED, pongs, close echo, fail()

Nothing here awaits or touches a socket; an I/O layer (a uvicorn protocol) drives it.
"""

from __future__ import annotations

from hub.wire.connection import CLOSED, CLOSING, OPEN, ConnectionState, ServerConnection
from hub.wire.events import BinaryMessage, Close, Event, Failure, Ping, Pong, TextMessage
from hub.wire.frames import Opcode, close_frame, text_frame
from hub.wire.parser import DEFAULT_MAX_MESSAGE_SIZE, FrameParser

__all__ = [
    "CLOSED",
    "CLOSING",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "OPEN",
    "BinaryMessage",
    "Close",
    "ConnectionState",
    "Event",
    "Failure",
    "FrameParser",
    "Opcode",
    "Ping",
    "Pong",
    "ServerConnection",
    "TextMessage",
    "close_frame",
    "text_frame",
]
