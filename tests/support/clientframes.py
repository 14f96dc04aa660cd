"""Client-to-server frames built the slow, obvious way: the oracle the wire parser is tested against.

Masking here is a byte-by-byte XOR (RFC 6455 §5.3 read literally), independent of the
integer trick :mod:`hub.wire.mask` uses.
"""

from __future__ import annotations

import struct

ZERO_KEY = b"\x00\x00\x00\x00"
KEY = b"\x37\xfa\x21\x3d"


def naive_mask(payload: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    key: bytes = KEY,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length_form: int | None = None,
    length: int | None = None,
) -> bytes:
    """One frame as a client sends it.

    ``length_form`` forces the 7-bit (0), 16-bit (126) or 64-bit (127) length encoding;
    ``length`` announces a length other than the payload's (to send a header alone, or lie).
    """
    n = len(payload) if length is None else length
    form = length_form if length_form is not None else (0 if n < 126 else 126 if n < 65536 else 127)
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if form == 0:
        header = bytes((b0, mask_bit | n))
    elif form == 126:
        header = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if not masked:
        return header + payload
    return header + key + naive_mask(payload, key)


def close_body(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason
