"""RFC 6455 §5.2 framing for server-to-client text frames (unmasked, unfragmented, no compression).

Because server frames are unmasked, the framed bytes of one event are the same for
every subscriber: build them once, write them to every transport.
"""

from __future__ import annotations

import struct

__all__ = ["payload_of", "text_frame"]

_FIN_TEXT = 0x81
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """The complete wire bytes of one text frame carrying ``payload`` (already UTF-8)."""
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 65536:
        return _pack_short(_FIN_TEXT, 126, n) + payload
    return _pack_long(_FIN_TEXT, 127, n) + payload


def payload_of(frame: bytes) -> bytes:
    """The payload of a frame built by :func:`text_frame` (for transports that frame by themselves)."""
    n = frame[1] & 0x7F
    return frame[2 if n < 126 else 4 if n == 126 else 10 :]
