"""What the application plugs into the hub: who a token belongs to, what they may see, their devices.

The hub never looks inside ``Principal.claims``; the application's authorizer does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.protocol.commands import Device
from hub.topics import Topic

__all__ = ["Authenticator", "Authorizer", "ConnectionMatch", "DeviceTracker", "Principal", "PublishRecorder"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user as the hub sees it."""

    user_id: int
    session_id: str
    """The login session the token belongs to; logout closes its sockets."""
    expires_at: float
    """Epoch seconds after which the access token is no longer valid."""
    public: Mapping[str, Any] | None = field(default_factory=dict)
    """The ``user`` object sent in ``welcome``; None for a principal that is not a user (a guest)."""
    claims: Mapping[str, Any] = field(default_factory=dict)
    """Anything the application's authorizer needs (role, truck...)."""
    welcome: Mapping[str, Any] = field(default_factory=dict)
    """Further ``welcome`` fields of the application's (e.g. ``guest``, protocol.md §2.1)."""


@dataclass(frozen=True, slots=True)
class ConnectionMatch:
    """Which connections lose their authority: those of a login session, of a user, or of one user's device.

    Every given field must match; at least one must be given.
    """

    session_id: str | None = None
    user_id: int | None = None
    device_id: str | None = None

    def __post_init__(self) -> None:
        if self.session_id is None and self.user_id is None:
            raise ValueError("a ConnectionMatch needs a session_id or a user_id")

    def matches(self, principal: Principal, device_id: str | None) -> bool:
        if self.session_id is not None and principal.session_id != self.session_id:
            return False
        if self.user_id is not None and principal.user_id != self.user_id:
            return False
        return self.device_id is None or device_id == self.device_id

    def as_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "user_id": self.user_id, "device_id": self.device_id}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConnectionMatch:
        """Raises ``ValueError``/``TypeError`` for a malformed control message."""
        session_id, user_id, device_id = raw.get("session_id"), raw.get("user_id"), raw.get("device_id")
        if not (session_id is None or isinstance(session_id, str)) or not (
            device_id is None or isinstance(device_id, str)
        ):
            raise TypeError("session_id and device_id must be strings")
        if not (user_id is None or (isinstance(user_id, int) and not isinstance(user_id, bool))):
            raise TypeError("user_id must be an integer")
        return cls(session_id=session_id, user_id=user_id, device_id=device_id)


class Authenticator(Protocol):
    async def authenticate(self, token: str, credential: str = "token") -> Principal:
        """Return the principal of a valid access token (``credential``: the hello field that carried it).

        Raises:
            HubError: ``unauthorized`` for a bad, expired or revoked token.
        """
        ...


class Authorizer(Protocol):
    async def authorize_subscribe(self, principal: Principal, topic: Topic) -> None:
        """Raise ``HubError(forbidden)`` (or ``not_found`` for a missing resource) to refuse."""
        ...

    async def authorize_publish(self, principal: Principal, topic: Topic) -> None:
        """Raise ``HubError(forbidden)`` to refuse a client ``publish``."""
        ...


class DeviceTracker(Protocol):
    async def connected(self, principal: Principal, device: Device) -> None:
        """A device said hello: register it, mark it online (before ``welcome``).

        Raises:
            HubError: ``rate_limited`` when the user may not register another device.
        """
        ...

    async def seen(self, devices: list[tuple[int, str]]) -> None:
        """``(user_id, device_id)`` pairs still connected: refresh ``last_seen``."""
        ...

    async def disconnected(self, devices: list[tuple[int, str]]) -> None:
        """``(user_id, device_id)`` pairs whose last connection on this node closed: offline, ``last_seen`` now.

        Called with batches, one call at a time (:class:`hub.offline.OfflineBook`): a drain closing
        thousands of sockets must cost a few writes, not one database connection per socket.
        """
        ...


class PublishRecorder(Protocol):
    async def published(self, principal: Principal, topic: Topic, event: str, data: Any, seq: int) -> None:
        """A client's ``publish`` went out (e.g. a manager's notice): record who said what (the audit log)."""
        ...
