"""RFC 6455 §5.2 framing of server-to-client frames, and the rules every frame shares.

Server frames are never masked (§5.1: "A server MUST NOT mask any frames that it sends
to the client"), so the framed bytes of one message are the same for every subscriber:
build them once, write them to every transport. Frames are never fragmented and carry
no extension bits: the hub negotiates no extensions (§9).
"""

from __future__ import annotations

import struct
from enum import IntEnum

from hub.codes import APPLICATION_CLOSE_CODES, SENDABLE_RFC_CLOSE_CODES, RfcCloseCode
from hub.errors import cap_reason

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "Opcode",
    "binary_frame",
    "close_frame",
    "close_payload",
    "encode_frame",
    "is_valid_close_code",
    "payload_of",
    "ping_frame",
    "pong_frame",
    "text_frame",
]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8). 0x3-0x7 and 0xB-0xF are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


#: §5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CONTROL_PAYLOAD = 125

_FIN = 0x80
_FIN_TEXT = _FIN | Opcode.TEXT
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_pack_code = struct.Struct("!H").pack


def encode_frame(opcode: Opcode, payload: bytes) -> bytes:
    """The wire bytes of one final, unmasked frame (§5.2 base framing).

    Args:
        opcode: the frame's opcode.
        payload: the payload; control frames take at most 125 bytes.

    Returns:
        Header and payload, ready to write.

    Raises:
        ValueError: a control frame's payload is longer than 125 bytes (§5.5).
    """
    n = len(payload)
    if opcode >= Opcode.CLOSE and n > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"control frame payload of {n} bytes exceeds {MAX_CONTROL_PAYLOAD}")
    head = _FIN | opcode
    # §5.2: the length takes 7 bits, or 126 + 16 bits, or 127 + 64 bits; the minimal form is required.
    if n < 126:
        return bytes((head, n)) + payload
    if n < 65536:
        return _pack_short(head, 126, n) + payload
    return _pack_long(head, 127, n) + payload


def text_frame(payload: bytes) -> bytes:
    """The complete wire bytes of one text frame carrying ``payload`` (already UTF-8).

    The hot path of fan-out: it skips :func:`encode_frame`'s checks, which a text frame never needs.
    """
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 65536:
        return _pack_short(_FIN_TEXT, 126, n) + payload
    return _pack_long(_FIN_TEXT, 127, n) + payload


def binary_frame(payload: bytes) -> bytes:
    """The complete wire bytes of one binary frame carrying ``payload``."""
    return encode_frame(Opcode.BINARY, payload)


def ping_frame(payload: bytes = b"") -> bytes:
    """A ping frame (§5.5.2). Raises ``ValueError`` beyond 125 bytes of payload."""
    return encode_frame(Opcode.PING, payload)


def pong_frame(payload: bytes = b"") -> bytes:
    """A pong frame (§5.5.3), echoing a ping's payload. Raises ``ValueError`` beyond 125 bytes."""
    return encode_frame(Opcode.PONG, payload)


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4, IANA registry).

    Args:
        code: a status code read from, or meant for, a close frame.

    Returns:
        True for 1000-1003, 1007-1014 and 3000-4999; false for 1004-1006, 1015, anything
        below 1000, 1016-2999 (reserved for future RFCs) and 5000 and up.
    """
    return code in SENDABLE_RFC_CLOSE_CODES or code in APPLICATION_CLOSE_CODES


def close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame (§5.5.1): empty, or a 2-byte code then a UTF-8 reason.

    Args:
        code: the status code, or None for a close frame without one (then ``reason`` must be empty).
        reason: human-readable; cut to 123 bytes on a UTF-8 character boundary so the frame fits in 125.

    Returns:
        The payload bytes.

    Raises:
        ValueError: ``code`` may not be sent (see :func:`is_valid_close_code`), or a reason without a code.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    return _pack_code(code) + cap_reason(reason).encode()


def close_frame(code: int | None = RfcCloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
    """A close frame (§5.5.1); see :func:`close_payload` for ``code`` and ``reason``.

    Raises:
        ValueError: as :func:`close_payload`.
    """
    return encode_frame(Opcode.CLOSE, close_payload(code, reason))


def payload_of(frame: bytes) -> bytes:
    """The payload of an unmasked frame built here (for transports that frame by themselves)."""
    n = frame[1] & 0x7F
    return frame[2 if n < 126 else 4 if n == 126 else 10 :]
