"""What the application plugs into the hub: who a token belongs to, what they may see, their devices.

The hub never looks inside ``Principal.claims``; the application's authorizer does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.protocol.commands import Device
from hub.topics import Topic

__all__ = ["Authenticator", "Authorizer", "DeviceTracker", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user as the hub sees it."""

    user_id: int
    session_id: str
    """The login session the token belongs to; logout closes its sockets."""
    expires_at: float
    """Epoch seconds after which the access token is no longer valid."""
    public: Mapping[str, Any] = field(default_factory=dict)
    """The ``user`` object sent in ``welcome``."""
    claims: Mapping[str, Any] = field(default_factory=dict)
    """Anything the application's authorizer needs (role, truck...)."""


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal:
        """Return the principal of a valid access token.

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
        """A device said hello: register it, mark it online."""
        ...

    async def seen(self, devices: list[tuple[int, str]]) -> None:
        """``(user_id, device_id)`` pairs still connected: refresh ``last_seen``."""
        ...

    async def disconnected(self, principal: Principal, device: Device) -> None:
        """The device's last connection on this node closed."""
        ...
