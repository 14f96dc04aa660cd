"""Unmasking client payloads (RFC 6455 §5.3) in pure Python, without a per-byte loop.

§5.3: "Octet i of the transformed data is the XOR of octet i of the original data with
octet at index i modulo 4 of the masking key." A Python loop over bytes costs tens of
nanoseconds a byte; instead the payload is read as one little-endian integer, XORed once
with the key repeated to the payload's length, and written back — three passes in C.

For payloads up to :data:`SMALL` bytes the repeated key is the key's 32-bit value times a
precomputed constant with a 1 in every 4-byte word, cut to ``n`` bytes by a precomputed
bit mask: two integer operations, measured faster than building ``key * k`` bytes and
slicing them. Larger payloads build the repeated key as bytes. Nothing here is copied
from the ``websockets`` C speedups, which the hub does not import.
"""

from __future__ import annotations

__all__ = ["KEEP", "REPEAT", "SMALL", "unmask"]

#: Payload sizes up to this many bytes use the precomputed tables (every control frame and GPS frame).
SMALL = 256

#: ``REPEAT[n]`` has a 1 at the bottom of each 32-bit word covering the first ``n`` bytes.
REPEAT: list[int] = [sum(1 << (32 * word) for word in range((n + 3) // 4)) for n in range(SMALL + 1)]

#: ``KEEP[n]`` keeps the low ``n`` bytes of an integer (drops the key's overhang past the payload).
KEEP: list[int] = [(1 << (8 * n)) - 1 for n in range(SMALL + 1)]


def unmask(data: bytes | bytearray | memoryview, key: bytes | bytearray) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` repeated (masking and unmasking are the same).

    Args:
        data: the payload as sent on the wire.
        key: the frame's 4-byte masking key.

    Returns:
        The unmasked payload.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    if len(key) != 4:
        raise ValueError("a masking key has 4 bytes")
    n = len(data)
    if n <= SMALL:
        repeated = int.from_bytes(key, "little") * REPEAT[n] & KEEP[n]
    else:
        repeated = int.from_bytes((bytes(key) * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ repeated).to_bytes(n, "little")
