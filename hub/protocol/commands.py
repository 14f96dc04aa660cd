"""Client commands as frozen dataclasses: the output of :func:`hub.protocol.frames.decode_command`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEVICE_KINDS",
    "Command",
    "CommandId",
    "Device",
    "Gps",
    "GpsPing",
    "Hello",
    "Ping",
    "Position",
    "Presence",
    "Publish",
    "Refresh",
    "Subscribe",
    "Unsubscribe",
]

CommandId = str | int | None
DeviceKind = Literal["kds", "pos", "driver", "dashboard", "other"]
DEVICE_KINDS: frozenset[str] = frozenset({"kds", "pos", "driver", "dashboard", "other"})


@dataclass(frozen=True, slots=True)
class Position:
    """A point in a reliable topic's stream: ``seq`` within ``epoch``."""

    seq: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: DeviceKind = "other"
    app: str | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    device: Device | None = None
    id: CommandId = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: CommandId
    topic: str
    since: Position | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: CommandId
    topic: str


@dataclass(frozen=True, slots=True)
class GpsPing:
    lat: float
    lon: float
    ts: float
    accuracy: float | None = None
    speed: float | None = None
    heading: float | None = None


@dataclass(frozen=True, slots=True)
class Gps:
    """One ping, or an offline ``batch`` (oldest first); ``pings`` is never empty."""

    id: CommandId
    pings: tuple[GpsPing, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    id: CommandId
    topic: str
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class Presence:
    id: CommandId
    topic: str


@dataclass(frozen=True, slots=True)
class Refresh:
    id: CommandId
    token: str


@dataclass(frozen=True, slots=True)
class Ping:
    id: CommandId


Command = Hello | Subscribe | Unsubscribe | Gps | Publish | Presence | Refresh | Ping
