"""The core's client commands (protocol.md §2.2): frozen dataclasses and their decoders, in one table.

A command is one entry of :class:`CommandSpec`: its ``type`` on the wire, its dataclass, the
decoder from the frame's JSON object, its metrics label, and the JSON Schema the AsyncAPI
document publishes for it (written beside its decoder, so the two are changed together). The application adds its own
(e.g. ``gps``) to the same :class:`~hub.protocol.table.CommandTable`; nothing else needs to
know a command exists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.protocol.fields import CommandId, Schema, bad, command_schema, string, string_schema
from hub.protocol.hello import MAX_TOKEN_CHARS, Device, Hello, hello_decoder, hello_schema

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
    schema: Schema = field(kw_only=True)
    """The frame's JSON Schema: what ``decode`` accepts (checks it cannot express go in its descriptions)."""
    replies: tuple[str, ...] = field(default=(), kw_only=True)
    """``type`` of the frames that answer it (besides ``error``); the document links command and reply."""


@dataclass(frozen=True, slots=True)
class Position:
    """A point in a reliable topic's stream: ``seq`` within ``epoch``."""

    seq: int
    epoch: str


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


_TOPIC: Schema = {**string_schema(MAX_TOPIC_CHARS), "description": "family:key, e.g. kds:42 (protocol.md §2.4)"}
_TOKEN = string_schema(MAX_TOKEN_CHARS)


def _topic(obj: dict[str, Any], cid: CommandId) -> str:
    topic = string(obj, "topic", cid, max_chars=MAX_TOPIC_CHARS)
    assert topic is not None
    return topic


_SUBSCRIBE = command_schema(
    "subscribe",
    "Start receiving a topic's events; with since, first replay what was missed (protocol.md §2.2).",
    {
        "topic": _TOPIC,
        "since": {
            "type": ["object", "null"],
            "description": "the last position seen (from a subscribed reply, an event or a snapshot)",
            "properties": {
                "seq": {"type": "integer", "minimum": 0, "maximum": MAX_SEQ},
                "epoch": string_schema(MAX_TOPIC_CHARS),
            },
            "required": ["seq", "epoch"],
        },
    },
    ("topic",),
)


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


_PUBLISH = command_schema(
    "publish",
    "Publish an event on a topic that accepts client publications (which: the application decides).",
    {"topic": _TOPIC, "event": string_schema(MAX_EVENT_CHARS), "data": {"description": "any JSON value"}},
    ("topic", "event", "data"),
)


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


_UNSUBSCRIBE = command_schema("unsubscribe", "Stop receiving a topic.", {"topic": _TOPIC}, ("topic",))
_PRESENCE = command_schema("presence", "Who is subscribed to a topic, on every node.", {"topic": _TOPIC}, ("topic",))
_REFRESH = command_schema(
    "refresh", "Replace the socket's token before it expires (same user).", {"token": _TOKEN}, ("token",)
)
_PING = command_schema("ping", "An application-level ping, for clients that cannot see WebSocket pings.")


def core_commands(device_kinds: Collection[str] = (), hello_credentials: Collection[str] = ()) -> list[CommandSpec]:
    """The commands every hub speaks (protocol.md §2.1-§2.2), ``gps`` aside (the application's)."""
    hello = hello_decoder(device_kinds, hello_credentials)
    return [
        CommandSpec(
            "hello", Hello, hello, "hello", schema=hello_schema(device_kinds, hello_credentials), replies=("welcome",)
        ),
        CommandSpec("subscribe", Subscribe, _subscribe, "subscribe", schema=_SUBSCRIBE, replies=("subscribed",)),
        CommandSpec(
            "unsubscribe",
            Unsubscribe,
            lambda o, c, n: Unsubscribe(id=c, topic=_topic(o, c)),
            "unsubscribe",
            schema=_UNSUBSCRIBE,
            replies=("unsubscribed",),
        ),
        CommandSpec("publish", Publish, _publish, "publish", schema=_PUBLISH, replies=("published",)),
        CommandSpec(
            "presence",
            Presence,
            lambda o, c, n: Presence(id=c, topic=_topic(o, c)),
            "presence",
            schema=_PRESENCE,
            replies=("presence",),
        ),
        CommandSpec("refresh", Refresh, _refresh, "refresh", schema=_REFRESH, replies=("refreshed",)),
        CommandSpec("ping", Ping, lambda o, c, n: Ping(id=c), "ping", schema=_PING, replies=("pong",)),
    ]
