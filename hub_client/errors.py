"""What can go wrong, as types a caller can act on.

::

    HubClientError
     ├── HubUnreachable   nothing answers at the URL (refused, timed out, not a hub): start the server
     ├── ApiError         a REST call answered with the contract's error envelope (§4)
     ├── CommandError     a socket command answered with an error frame (§2.5); the socket stays open
     ├── ConnectionLost   the socket dropped before a command's reply; the command may or may not have run
     └── HubClosed        the server closed the socket for good (4400, 1009, …): do not loop, fix the client
          └── LoginRequired  4401 even after one token refresh, or no refresh possible: log in again
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "CommandError",
    "ConnectionLost",
    "HubClientError",
    "HubClosed",
    "HubUnreachable",
    "LoginRequired",
]


class HubClientError(Exception):
    """Base of every error this client raises on purpose."""


class HubUnreachable(HubClientError):
    """No hub answers at ``url``: the server is down, the port is wrong, or something else listens there."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"no hub answers at {self.url} ({self.reason})"


class ApiError(HubClientError):
    """A REST error: ``code`` is the contract's string (``sold_out``, ``forbidden``…), ``status`` the HTTP status.

    ``retry_after`` is the ``Retry-After`` header in seconds when the server sent one (429, 503,
    409 ``throttled``): wait that long before trying again.
    """

    def __init__(
        self, code: str, status: int, message: str, *, details: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(code, status, message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def __str__(self) -> str:
        wait = f", retry after {self.retry_after:g} s" if self.retry_after is not None else ""
        return f"{self.status} {self.code}: {self.message}{wait}"


class CommandError(HubClientError):
    """The hub answered a socket command with ``{"type":"error"}``; the connection is still open."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConnectionLost(HubClientError):
    """The socket closed while a command waited for its reply (it may have run: check before repeating it)."""


class HubClosed(HubClientError):
    """The server closed the socket with a code after which reconnecting would only repeat the failure."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"closed {self.code}" + (f": {self.reason}" if self.reason else "")


class LoginRequired(HubClosed):
    """The session is over (logged out, revoked, refresh token expired): ask the user to log in again."""

    def __init__(self, reason: str = "log in again") -> None:
        super().__init__(4401, reason)
