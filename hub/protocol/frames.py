"""Pure codecs for the hub's outbound JSON frames (protocol.md §2), their JSON Schemas, and the error of a binary frame.

Each encoder sits beside the schema of the frame it builds; :data:`SERVER_FRAMES` collects them
for the AsyncAPI document, and the end-to-end tests check every received frame against it.
Inbound frames are decoded by :class:`~hub.protocol.table.CommandTable`. Nothing here awaits or
touches a socket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from hub.codes import ERROR_CODE_EXPLANATIONS, ErrorCode
from hub.errors import ProtocolError
from hub.history import Publication
from hub.protocol.fields import ID_SCHEMA, CommandId, Schema

__all__ = [
    "SERVER_FRAMES",
    "binary_frame_error",
    "encode",
    "encode_error",
    "encode_event",
    "encode_pong",
    "encode_presence",
    "encode_published",
    "encode_refreshed",
    "encode_subscribed",
    "encode_unsubscribed",
    "encode_welcome",
    "frame_schema",
]

_dumps = orjson.dumps
_SEQ: Schema = {"type": "integer", "minimum": 0, "description": "position in the topic's stream"}
_EPOCH: Schema = {"type": "string", "description": "the stream's identity; a new epoch means history was lost"}
_TIME: Schema = {"type": "number", "description": "epoch seconds"}
_TOPIC: Schema = {"type": "string"}


def frame_schema(kind: str, description: str, properties: Schema, optional: Iterable[str] = ()) -> Schema:
    """The JSON Schema of one server frame: every property required unless ``optional``, nothing else."""
    skip = set(optional)
    return {
        "type": "object",
        "description": description,
        "properties": {"type": {"const": kind}, **properties},
        "required": ["type", *(name for name in properties if name not in skip)],
        "additionalProperties": False,
    }


def encode(frame: Mapping[str, Any]) -> bytes:
    """Serialize one outbound frame."""
    return _dumps(frame)


_LIMITS = ("max_frame_bytes", "max_subscriptions", "commands_per_s", "gps_per_s", "outbound_queue", "history_size")
WELCOME = frame_schema(
    "welcome",
    "The answer to a valid hello: the connection is open (protocol.md §2.1).",
    {
        "id": ID_SCHEMA,
        "conn_id": {"type": "string"},
        "node": {"type": "string", "description": "the hub process serving this socket"},
        "user": {
            "type": ["object", "null"],
            "description": "the authenticated user; null for a principal that is not a user",
        },
        "heartbeat_s": {"type": "number", "description": "WebSocket ping interval; 4408 when a pong is this late"},
        "limits": {
            "type": "object",
            "properties": {**{name: {"type": "number"} for name in _LIMITS}, "history_ttl_s": {"type": "number"}},
            "required": [*_LIMITS, "history_ttl_s"],
        },
        "server_time": _TIME,
    },
    optional=("id",),
)


def _user(user: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if user is None else dict(user)


def encode_welcome(
    conn_id: str,
    node: str,
    user: Mapping[str, Any] | None,
    *,
    extra: Mapping[str, Any] | None = None,
    heartbeat_s: float,
    limits: Mapping[str, float],
    server_time: float,
    cid: CommandId,
) -> bytes:
    """``id`` only when the hello carried one; ``user`` None for a principal that is not a user (a guest);
    ``extra``: the application's further fields (e.g. ``guest``), which its AsyncAPI document adds to the schema."""
    frame: dict[str, Any] = {"type": "welcome", "conn_id": conn_id, "node": node, "user": _user(user)}
    frame.update(heartbeat_s=heartbeat_s, limits=dict(limits), server_time=server_time)
    if extra:
        frame.update(extra)
    if cid is not None:
        frame["id"] = cid
    return _dumps(frame)


SUBSCRIBED = frame_schema(
    "subscribed",
    "The subscription is live: events with seq > this seq follow, after any replay (protocol.md §2.2).",
    {
        "id": ID_SCHEMA,
        "topic": _TOPIC,
        "seq": _SEQ,
        "epoch": _EPOCH,
        "recovered": {"type": "boolean", "description": "since was honoured: the missed events are replayed"},
        "conflated": {"type": "boolean", "description": "only the newest value per key is delivered"},
        "replayed": {"type": "integer", "minimum": 0, "description": "how many replayed events follow (recovered)"},
    },
    optional=("replayed",),
)


def encode_subscribed(
    cid: CommandId, topic: str, seq: int, epoch: str, *, conflated: bool, replayed: int | None
) -> bytes:
    """``replayed`` is None when nothing was recovered (no ``since``, or history no longer reaches it)."""
    frame: dict[str, Any] = {"type": "subscribed", "id": cid, "topic": topic, "seq": seq, "epoch": epoch}
    frame.update(recovered=replayed is not None, conflated=conflated)
    if replayed is not None:
        frame["replayed"] = replayed
    return _dumps(frame)


UNSUBSCRIBED = frame_schema("unsubscribed", "No event of the topic follows.", {"id": ID_SCHEMA, "topic": _TOPIC})


def encode_unsubscribed(cid: CommandId, topic: str) -> bytes:
    return _dumps({"type": "unsubscribed", "id": cid, "topic": topic})


PUBLISHED = frame_schema(
    "published",
    "The event is in the topic's stream at seq (only when publish had an id).",
    {"id": ID_SCHEMA, "topic": _TOPIC, "seq": _SEQ},
)


def encode_published(cid: CommandId, topic: str, seq: int) -> bytes:
    return _dumps({"type": "published", "id": cid, "topic": topic, "seq": seq})


_MEMBER: Schema = {
    "type": "object",
    "properties": {
        "conn_id": {"type": "string"},
        "user_id": {"type": "integer"},
        "device_id": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]},
        "since": _TIME,
    },
    "required": ["conn_id", "user_id", "device_id", "kind", "since"],
    "additionalProperties": False,
}
PRESENCE = frame_schema(
    "presence",
    "Every connection subscribed to the topic, across all hub nodes.",
    {"id": ID_SCHEMA, "topic": _TOPIC, "members": {"type": "array", "items": _MEMBER}},
)


def encode_presence(cid: CommandId, topic: str, members: Iterable[Mapping[str, Any]]) -> bytes:
    return _dumps({"type": "presence", "id": cid, "topic": topic, "members": list(members)})


REFRESHED = frame_schema(
    "refreshed", "The new token is in force.", {"id": ID_SCHEMA, "expires_at": {**_TIME, "description": "epoch s"}}
)


def encode_refreshed(cid: CommandId, expires_at: float) -> bytes:
    return _dumps({"type": "refreshed", "id": cid, "expires_at": expires_at})


PONG = frame_schema("pong", "The answer to ping.", {"id": ID_SCHEMA, "server_time": _TIME})


def encode_pong(cid: CommandId, server_time: float) -> bytes:
    return _dumps({"type": "pong", "id": cid, "server_time": server_time})


ERROR = frame_schema(
    "error",
    "A command failed, or a frame was refused (protocol.md §2.5); id is null when it could not be read.",
    {
        "id": ID_SCHEMA,
        "code": {
            "enum": [code.value for code in ErrorCode],
            "description": "; ".join(f"{code.value}: {why}" for code, why in ERROR_CODE_EXPLANATIONS.items()),
        },
        "message": {"type": "string", "description": "for people; never parse it"},
    },
)


def encode_error(code: ErrorCode, message: str, command_id: CommandId = None) -> bytes:
    """An error frame (protocol.md §2.5); ``id`` is always present, null when unknown."""
    return _dumps({"type": "error", "id": command_id, "code": code.value, "message": message})


def binary_frame_error() -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, "binary frames are not supported: send JSON text frames")


EVENT = frame_schema(
    "event",
    "A publication on a subscribed topic (protocol.md §2.3); data is the whole current object.",
    {"topic": _TOPIC, "seq": _SEQ, "epoch": _EPOCH, "event": {"type": "string"}, "data": {}, "ts": _TIME},
)


def encode_event(pub: Publication) -> bytes:
    """The event frame of a publication (protocol.md §2.3), built once per publication.

    ``data`` is spliced in as already-serialized JSON, so the payload is never re-encoded.
    """
    return b"".join(
        (
            b'{"type":"event","topic":',
            _dumps(pub.topic),
            b',"seq":',
            str(pub.seq).encode(),
            b',"epoch":',
            _dumps(pub.epoch),
            b',"event":',
            _dumps(pub.event),
            b',"data":',
            pub.data,
            b',"ts":',
            _dumps(pub.ts),
            b"}",
        )
    )


SERVER_FRAMES: dict[str, Schema] = {
    s["properties"]["type"]["const"]: s
    for s in (WELCOME, SUBSCRIBED, UNSUBSCRIBED, PUBLISHED, PRESENCE, REFRESHED, PONG, ERROR, EVENT)
}
"""Every frame the core sends, by ``type``; the application adds its own (e.g. ``ack``) when documenting."""
