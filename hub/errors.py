"""The hub's exceptions.

    HubError(code, message)
     ├── ProtocolError      the command failed; the connection stays open
     └── CloseConnection    the connection must be closed with ``close_code``

Hot paths (fan-out) return outcomes as values instead of raising.
"""

from __future__ import annotations

from hub.codes import CloseCode, ErrorCode

__all__ = ["CloseConnection", "HubError", "ProtocolError", "cap_reason"]

_MAX_REASON_BYTES = 123  # RFC 6455 §5.5: control frame payload ≤ 125 bytes, 2 of them the code


def cap_reason(reason: str) -> str:
    """Truncate a close reason to what fits in a close frame, on a UTF-8 boundary."""
    raw = reason.encode()
    if len(raw) <= _MAX_REASON_BYTES:
        return reason
    return raw[:_MAX_REASON_BYTES].decode(errors="ignore")


class HubError(Exception):
    """Base of the hub's errors: a contract error code and a human-readable message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ProtocolError(HubError):
    """A command failed; the client gets an error frame echoing ``command_id``."""

    def __init__(self, code: ErrorCode, message: str, command_id: str | int | None = None) -> None:
        super().__init__(code, message)
        self.command_id = command_id


class CloseConnection(HubError):
    """The connection must end: optionally an error frame first, then close ``close_code``."""

    def __init__(
        self,
        close_code: CloseCode,
        reason: str,
        *,
        error: ErrorCode | None = None,
        command_id: str | int | None = None,
    ) -> None:
        super().__init__(error or ErrorCode.BAD_REQUEST, reason)
        self.close_code = close_code
        self.reason = cap_reason(reason)
        self.error = error
        self.command_id = command_id

    def __str__(self) -> str:
        return f"close {int(self.close_code)}: {self.reason}"
