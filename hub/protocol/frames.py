"""Pure codecs for the hub's outbound JSON frames (protocol.md §2), and the error of a binary frame.

Inbound frames are decoded by :class:`~hub.protocol.table.CommandTable`. Nothing here awaits or
touches a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.history import Publication
from hub.protocol.fields import CommandId

__all__ = ["binary_frame_error", "encode", "encode_error", "encode_event"]

_dumps = orjson.dumps


def encode(frame: Mapping[str, Any]) -> bytes:
    """Serialize one outbound frame."""
    return _dumps(frame)


def encode_error(code: ErrorCode, message: str, command_id: CommandId = None) -> bytes:
    """An error frame (protocol.md §2.5); ``id`` is always present, null when unknown."""
    return _dumps({"type": "error", "id": command_id, "code": code.value, "message": message})


def binary_frame_error() -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, "binary frames are not supported: send JSON text frames")


def encode_event(pub: Publication) -> bytes:
    """The event frame of a publication (protocol.md §2.3), built once per publication.

    ``data`` is spliced in as already-serialized JSON, so the payload is never re-encoded.
    """
    return b"".join(
        (
            b'{"type":"event","topic":',
            _dumps(pub.topic),
            b',"seq":',
            str(pub.seq).encode(),
            b',"epoch":',
            _dumps(pub.epoch),
            b',"event":',
            _dumps(pub.event),
            b',"data":',
            pub.data,
            b',"ts":',
            _dumps(pub.ts),
            b"}",
        )
    )
