"""The core's client commands (protocol.md §2.2): frozen dataclasses and their decoders, in one table.

A command is one entry of :class:`CommandSpec`: its ``type`` on the wire, its dataclass, the
decoder from the frame's JSON object, and its metrics label. The application adds its own
(e.g. ``gps``) to the same :class:`~hub.protocol.table.CommandTable`; nothing else needs to
know a command exists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from hub.protocol.fields import CommandId, bad, string

__all__ = [
    "MAX_SEQ",
    "Command",
    "CommandId",
    "CommandSpec",
    "Decoder",
    "Device",
    "Hello",
    "Ping",
    "Position",
    "Presence",
    "Publish",
    "Refresh",
    "Subscribe",
    "Unsubscribe",
    "core_commands",
]

MAX_TOPIC_CHARS = 128
MAX_EVENT_CHARS = 64
MAX_TOKEN_CHARS = 8192
MAX_DEVICE_FIELD_CHARS = 128
MAX_SEQ = 2**63 - 1  # seq is a signed 64-bit counter in every broker


class Command(Protocol):
    """Every command carries the ``id`` its reply echoes."""

    @property
    def id(self) -> CommandId: ...


Decoder = Callable[[dict[str, Any], CommandId, float], Command]
"""(the frame's JSON object, its id, the time now) → the command; raises ``ProtocolError(bad_request)``."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    """The frame's ``type``."""
    command: type
    decode: Decoder
    label: str
    counted: bool = True
    """Counts against the connection's ``HUB_COMMANDS_PER_S`` (a command with a budget of its own says no)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A point in a reliable topic's stream: ``seq`` within ``epoch``."""

    seq: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str = "other"
    app: str | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    device: Device | None = None
    id: CommandId = None
    credential: str = "token"
    """The hello field that carried ``token``: ``token``, or one of the application's ``hello_credentials``
    (e.g. a guest's ``order_token``, protocol.md §2.1); the authenticator decides what each means."""


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


def _topic(obj: dict[str, Any], cid: CommandId) -> str:
    topic = string(obj, "topic", cid, max_chars=MAX_TOPIC_CHARS)
    assert topic is not None
    return topic


def _hello_decoder(device_kinds: Collection[str], credentials: Collection[str] = ()) -> Decoder:
    """``device.kind`` is the application's vocabulary (protocol.md §2.1); empty: any short word.

    ``credentials`` are hello fields the application accepts instead of ``token`` (exactly one is given).
    """
    allowed = ", ".join(sorted(device_kinds))
    names = ("token", *credentials)

    def decode(obj: dict[str, Any], cid: CommandId, now: float) -> Hello:
        given = [name for name in names if name in obj]
        if len(given) > 1:
            raise bad(f"hello takes one of {', '.join(names)}, not several", cid)
        credential = given[0] if given else "token"
        token = string(obj, credential, cid, max_chars=MAX_TOKEN_CHARS)
        assert token is not None
        raw = obj.get("device")
        if raw is None:
            return Hello(token=token, id=cid, credential=credential)
        if not isinstance(raw, dict):
            raise bad("'device' must be an object", cid)
        device_id = string(raw, "id", cid, max_chars=MAX_DEVICE_FIELD_CHARS)
        kind = raw.get("kind", "other")
        if not isinstance(kind, str) or (device_kinds and kind not in device_kinds) or not 0 < len(kind) <= 32:
            raise bad(f"'device.kind' must be one of {allowed}" if allowed else "'device.kind' must be a word", cid)
        app = string(raw, "app", cid, max_chars=MAX_DEVICE_FIELD_CHARS, required=False)
        assert device_id is not None
        return Hello(token=token, device=Device(id=device_id, kind=kind, app=app), id=cid, credential=credential)

    return decode


def _subscribe(obj: dict[str, Any], cid: CommandId, now: float) -> Subscribe:
    topic = _topic(obj, cid)
    raw = obj.get("since")
    if raw is None:
        return Subscribe(id=cid, topic=topic)
    if not isinstance(raw, dict):
        raise bad("'since' must be an object {seq, epoch}", cid)
    seq = raw.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise bad("'since.seq' must be a non-negative 64-bit integer", cid)
    epoch = string(raw, "epoch", cid, max_chars=MAX_TOPIC_CHARS)
    assert epoch is not None
    return Subscribe(id=cid, topic=topic, since=Position(seq=seq, epoch=epoch))


def _publish(obj: dict[str, Any], cid: CommandId, now: float) -> Publish:
    topic = _topic(obj, cid)
    event = string(obj, "event", cid, max_chars=MAX_EVENT_CHARS)
    assert event is not None
    if "data" not in obj:
        raise bad("'data' is required", cid)
    return Publish(id=cid, topic=topic, event=event, data=obj["data"])


def _refresh(obj: dict[str, Any], cid: CommandId, now: float) -> Refresh:
    token = string(obj, "token", cid, max_chars=MAX_TOKEN_CHARS)
    assert token is not None
    return Refresh(id=cid, token=token)


def core_commands(device_kinds: Collection[str] = (), hello_credentials: Collection[str] = ()) -> list[CommandSpec]:
    """The commands every hub speaks (protocol.md §2.1-§2.2), ``gps`` aside (the application's)."""
    return [
        CommandSpec("hello", Hello, _hello_decoder(device_kinds, hello_credentials), "hello"),
        CommandSpec("subscribe", Subscribe, _subscribe, "subscribe"),
        CommandSpec("unsubscribe", Unsubscribe, lambda o, c, n: Unsubscribe(id=c, topic=_topic(o, c)), "unsubscribe"),
        CommandSpec("publish", Publish, _publish, "publish"),
        CommandSpec("presence", Presence, lambda o, c, n: Presence(id=c, topic=_topic(o, c)), "presence"),
        CommandSpec("refresh", Refresh, _refresh, "refresh"),
        CommandSpec("ping", Ping, lambda o, c, n: Ping(id=c), "ping"),
    ]
