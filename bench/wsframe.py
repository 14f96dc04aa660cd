"""Client-side RFC 6455 framing for the lean bench clients: opcodes, the accept key's GUID, masked frames."""

from __future__ import annotations

import random

__all__ = ["GUID", "OP_CLOSE", "OP_CONT", "OP_PING", "OP_PONG", "OP_TEXT", "masked_frame"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA


def masked_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A client→server frame: clients must mask (RFC 6455 §5.3); XOR done as one big-int operation."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = random.getrandbits(32).to_bytes(4, "big")
    mask = (key * ((n >> 2) + 1))[:n]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")
    return header + key + body
