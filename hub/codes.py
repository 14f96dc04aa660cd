"""Every error code and close code of the contract, in one place (protocol.md §2.5, §2.6, §4).

No literal code appears anywhere else: frames, metrics labels and the REST error
envelope import from here.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "ERRORS_THAT_CLOSE",
    "HTTP_STATUS",
    "RECONNECT_CODES",
    "CloseCode",
    "ErrorCode",
]


class ErrorCode(StrEnum):
    """Error codes of socket error frames and REST error envelopes."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    # REST-only codes (protocol.md §4)
    CONFLICT = "conflict"
    SHIFT_OPEN = "shift_open"
    INVALID_TRANSITION = "invalid_transition"
    SOLD_OUT = "sold_out"
    SHIFT_NOT_ACCEPTING = "shift_not_accepting"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"


class CloseCode(IntEnum):
    """WebSocket close codes the hub sends (protocol.md §2.6)."""

    GOING_AWAY = 1001
    INVALID_DATA = 1007
    INTERNAL_ERROR = 1011
    MESSAGE_TOO_BIG = 1009
    PROTOCOL_VIOLATION = 4400
    UNAUTHORIZED = 4401
    TIMEOUT = 4408
    RATE_LIMITED = 4429
    SLOW_CONSUMER = 4500


CLOSE_CODE_EXPLANATIONS: dict[CloseCode, str] = {
    CloseCode.GOING_AWAY: "node shutting down or draining: reconnect (any node) and resume",
    CloseCode.INTERNAL_ERROR: "unexpected server error: reconnect and resume",
    CloseCode.INVALID_DATA: "a text frame that is not valid UTF-8 (RFC 6455 §8.1): fix the client",
    CloseCode.MESSAGE_TOO_BIG: "frame larger than HUB_MAX_FRAME_BYTES: fix the client",
    CloseCode.PROTOCOL_VIOLATION: "protocol violation: fix the client",
    CloseCode.UNAUTHORIZED: "authentication failed or token expired: log in again",
    CloseCode.TIMEOUT: "no hello in time, or heartbeat lost: reconnect",
    CloseCode.RATE_LIMITED: "sustained rate-limit abuse: back off, reconnect",
    CloseCode.SLOW_CONSUMER: "outbound buffer overflowed on a reliable topic: reconnect and resume with since",
}

#: Codes after which a client should simply reconnect (and resume with ``since``).
RECONNECT_CODES: frozenset[CloseCode] = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR, CloseCode.TIMEOUT, CloseCode.SLOW_CONSUMER}
)

#: Error codes that end the connection, and with which close code (§2.5 "connection" column).
ERRORS_THAT_CLOSE: dict[ErrorCode, CloseCode] = {ErrorCode.UNAUTHORIZED: CloseCode.UNAUTHORIZED}

#: HTTP status of each code in the REST error envelope (§4).
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.CONFLICT: 409,
    ErrorCode.SHIFT_OPEN: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.SOLD_OUT: 409,
    ErrorCode.SHIFT_NOT_ACCEPTING: 409,
    ErrorCode.THROTTLED: 409,
    ErrorCode.UNAVAILABLE: 503,
}
