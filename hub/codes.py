"""Every error code and close code of the contract, in one place (protocol.md §2.5, §2.6, §4).

No literal code appears anywhere else: frames, metrics labels and the REST error
envelope import from here.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "APPLICATION_CLOSE_CODES",
    "CLOSE_CODE_EXPLANATIONS",
    "ERRORS_THAT_CLOSE",
    "ERROR_CODE_EXPLANATIONS",
    "RECONNECT_CODES",
    "RFC_CLOSE_CODE_EXPLANATIONS",
    "SENDABLE_RFC_CLOSE_CODES",
    "CloseCode",
    "ErrorCode",
    "RfcCloseCode",
]


class ErrorCode(StrEnum):
    """Error codes of socket error frames (protocol.md §2.5); the REST API adds its own (``app.codes``)."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"


ERROR_CODE_EXPLANATIONS: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "not JSON, not an object, unknown type, missing or ill-typed field, binary frame, "
    "GPS out of range; the connection stays open",
    ErrorCode.UNAUTHORIZED: "bad or expired token; the connection is closed 4401",
    ErrorCode.FORBIDDEN: "topic or action not allowed for this user; the connection stays open",
    ErrorCode.NOT_FOUND: "unknown topic family or resource; the connection stays open",
    ErrorCode.RATE_LIMITED: "over a per-connection limit (commands/s, GPS pings/s); stays open, "
    "sustained abuse is closed 4429",
    ErrorCode.INTERNAL: "the server's own fault, logged with the connection id; the connection stays open",
}


class CloseCode(IntEnum):
    """WebSocket close codes the hub sends (protocol.md §2.6)."""

    GOING_AWAY = 1001
    INVALID_DATA = 1007
    INTERNAL_ERROR = 1011
    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013  # not in the contract's table: an overloaded node refusing a hello (protocol-notes)
    PROTOCOL_VIOLATION = 4400
    UNAUTHORIZED = 4401
    TIMEOUT = 4408
    RATE_LIMITED = 4429
    SLOW_CONSUMER = 4500


CLOSE_CODE_EXPLANATIONS: dict[CloseCode, str] = {
    CloseCode.GOING_AWAY: "node shutting down or draining: reconnect (any node) and resume",
    CloseCode.INTERNAL_ERROR: "unexpected server error: reconnect and resume",
    CloseCode.TRY_AGAIN_LATER: "node overloaded (too many hellos waiting): reconnect later, any node, and resume",
    CloseCode.INVALID_DATA: "a text frame that is not valid UTF-8 (RFC 6455 §8.1): fix the client",
    CloseCode.MESSAGE_TOO_BIG: "frame larger than HUB_MAX_FRAME_BYTES: fix the client",
    CloseCode.PROTOCOL_VIOLATION: "protocol violation: fix the client",
    CloseCode.UNAUTHORIZED: "authentication failed or token expired: log in again",
    CloseCode.TIMEOUT: "no hello in time, or heartbeat lost: reconnect",
    CloseCode.RATE_LIMITED: "sustained rate-limit abuse: back off, reconnect",
    CloseCode.SLOW_CONSUMER: "outbound buffer overflowed on a reliable topic: reconnect and resume with since",
}


class RfcCloseCode(IntEnum):
    """Close codes of RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry".

    The WebSocket framing layer (:mod:`hub.wire`) speaks these. They are kept apart from
    :class:`CloseCode` on purpose: every ``CloseCode`` member is a pre-registered label of
    ``hub_disconnects_total`` and a peer code that :mod:`hub.connection` reports by number
    rather than as ``"client"``; adding 1000 there would relabel every ordinary client close.
    Where both enums share a value (1001, 1009, 1011) the members compare equal.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never on the wire: "the close frame had no code"
    ABNORMAL_CLOSURE = 1006  # never on the wire: "no close frame at all"
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # IANA registry, after RFC 6455
    TRY_AGAIN_LATER = 1013  # IANA registry, after RFC 6455
    BAD_GATEWAY = 1014  # IANA registry, after RFC 6455
    TLS_HANDSHAKE = 1015  # never on the wire


RFC_CLOSE_CODE_EXPLANATIONS: dict[RfcCloseCode, str] = {
    RfcCloseCode.NORMAL_CLOSURE: "normal closure",
    RfcCloseCode.GOING_AWAY: "endpoint going away",
    RfcCloseCode.PROTOCOL_ERROR: "WebSocket protocol error (framing, masking, fragmentation, close payload)",
    RfcCloseCode.UNSUPPORTED_DATA: "data type the endpoint cannot accept",
    RfcCloseCode.NO_STATUS_RCVD: "close frame without a status code (reported locally, never sent)",
    RfcCloseCode.ABNORMAL_CLOSURE: "connection lost without a close frame (reported locally, never sent)",
    RfcCloseCode.INVALID_DATA: "text message or close reason that is not valid UTF-8",
    RfcCloseCode.POLICY_VIOLATION: "policy violation",
    RfcCloseCode.MESSAGE_TOO_BIG: "message larger than the configured limit",
    RfcCloseCode.MANDATORY_EXTENSION: "client required an extension the server did not negotiate",
    RfcCloseCode.INTERNAL_ERROR: "unexpected condition on the server",
    RfcCloseCode.SERVICE_RESTART: "service restart",
    RfcCloseCode.TRY_AGAIN_LATER: "try again later",
    RfcCloseCode.BAD_GATEWAY: "bad gateway",
    RfcCloseCode.TLS_HANDSHAKE: "TLS handshake failure (reported locally, never sent)",
}

#: Codes an endpoint may put in a close frame besides 3000-4999 (RFC 6455 §7.4.1-§7.4.2, IANA registry).
#: 1004 is reserved, 1005/1006/1015 are never sent; 1012-1014 were registered after the RFC and are
#: accepted (as websockets and current browsers do).
SENDABLE_RFC_CLOSE_CODES: frozenset[int] = frozenset(RfcCloseCode) - {
    RfcCloseCode.NO_STATUS_RCVD,
    RfcCloseCode.ABNORMAL_CLOSURE,
    RfcCloseCode.TLS_HANDSHAKE,
}

#: §7.4.2: 3000-3999 are registered for libraries and frameworks, 4000-4999 are for private use (the hub's 44xx).
APPLICATION_CLOSE_CODES = range(3000, 5000)

#: Codes after which a client should simply reconnect (and resume with ``since``).
RECONNECT_CODES: frozenset[CloseCode] = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.INTERNAL_ERROR,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.TIMEOUT,
        CloseCode.SLOW_CONSUMER,
    }
)

#: Error codes that end the connection, and with which close code (§2.5 "connection" column).
ERRORS_THAT_CLOSE: dict[ErrorCode, CloseCode] = {ErrorCode.UNAUTHORIZED: CloseCode.UNAUTHORIZED}
