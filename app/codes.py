"""The REST API's error codes and their HTTP statuses (protocol.md §4): the socket's codes and the 409s of the kitchen.

The hub core knows only the socket's codes (:class:`hub.codes.ErrorCode`); the same strings
mean the same thing here, and the REST-only ones (``conflict``, ``sold_out``…) live only here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["HTTP_STATUS", "ErrorCode"]


class ErrorCode(StrEnum):
    """Codes of the REST error envelope ``{"error":{"code","message","details"}}``."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    CONFLICT = "conflict"
    SHIFT_OPEN = "shift_open"
    INVALID_TRANSITION = "invalid_transition"
    SOLD_OUT = "sold_out"
    SHIFT_NOT_ACCEPTING = "shift_not_accepting"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"


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
