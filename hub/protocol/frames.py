"""Pure codecs for the hub's JSON frames (protocol.md §2).

``decode_command`` turns one inbound text frame into a :mod:`~hub.protocol.commands`
dataclass or raises :class:`~hub.errors.ProtocolError` (``bad_request``) — never any
other exception. ``encode_*`` build outbound frames as ``bytes``. Nothing here awaits
or touches a socket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.history import Publication
from hub.protocol.commands import (
    DEVICE_KINDS,
    Command,
    CommandId,
    Device,
    Gps,
    GpsPing,
    Hello,
    Ping,
    Position,
    Presence,
    Publish,
    Refresh,
    Subscribe,
    Unsubscribe,
)

__all__ = [
    "GPS_FUTURE_S",
    "MAX_BATCH",
    "MAX_ID_CHARS",
    "binary_frame_error",
    "decode_command",
    "encode",
    "encode_error",
    "encode_event",
]

MAX_ID_CHARS = 64  # protocol.md §2: "id (string or integer, at most 64 characters)"
MAX_TOPIC_CHARS = 128
MAX_EVENT_CHARS = 64
MAX_TOKEN_CHARS = 8192
MAX_DEVICE_FIELD_CHARS = 128
MAX_SEQ = 2**63 - 1  # seq is a signed 64-bit counter in every broker
MAX_BATCH = 100  # issue 5: "a batch array of pings (at most 100, oldest first)"
GPS_FUTURE_S = 60.0  # protocol.md §2.5: "ts more than 60 s in the future" is bad_request

_dumps = orjson.dumps


def encode(frame: Mapping[str, Any]) -> bytes:
    """Serialize one outbound frame."""
    return _dumps(frame)


def encode_error(code: ErrorCode, message: str, command_id: CommandId = None) -> bytes:
    """An error frame (protocol.md §2.5); ``id`` is always present, null when unknown."""
    return _dumps({"type": "error", "id": command_id, "code": code.value, "message": message})


def binary_frame_error() -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, "binary frames are not supported: send JSON text frames")


def _bad(message: str, command_id: CommandId = None) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message, command_id)


def _command_id(obj: dict[str, Any]) -> CommandId:
    raw = obj.get("id")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _bad("'id' must be a string or an integer")
    if len(str(raw)) > MAX_ID_CHARS:
        raise _bad(f"'id' must be at most {MAX_ID_CHARS} characters")
    return raw


def _string(obj: dict[str, Any], key: str, cid: CommandId, *, max_chars: int, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"'{key}' must be a non-empty string", cid)
    if len(value) > max_chars:
        raise _bad(f"'{key}' must be at most {max_chars} characters", cid)
    return value


def _number(obj: Mapping[str, Any], key: str, cid: CommandId, *, required: bool) -> float | None:
    value = obj.get(key)
    if type(value) is float and math.isfinite(value):  # the common case first (GPS: six per ping)
        return value
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"'{key}' must be a number", cid)
    number = float(value)
    if not math.isfinite(number):  # orjson refuses NaN literals, but huge ints overflow to inf
        raise _bad(f"'{key}' must be finite", cid)
    return number


def _topic(obj: dict[str, Any], cid: CommandId) -> str:
    topic = _string(obj, "topic", cid, max_chars=MAX_TOPIC_CHARS)
    assert topic is not None
    return topic


def _hello(obj: dict[str, Any], cid: CommandId, now: float) -> Hello:
    token = _string(obj, "token", cid, max_chars=MAX_TOKEN_CHARS)
    assert token is not None
    raw = obj.get("device")
    if raw is None:
        return Hello(token=token, id=cid)
    if not isinstance(raw, dict):
        raise _bad("'device' must be an object", cid)
    device_id = _string(raw, "id", cid, max_chars=MAX_DEVICE_FIELD_CHARS)
    kind = raw.get("kind", "other")
    if kind not in DEVICE_KINDS:
        raise _bad(f"'device.kind' must be one of {', '.join(sorted(DEVICE_KINDS))}", cid)
    app = _string(raw, "app", cid, max_chars=MAX_DEVICE_FIELD_CHARS, required=False)
    assert device_id is not None
    return Hello(token=token, device=Device(id=device_id, kind=kind, app=app), id=cid)


def _subscribe(obj: dict[str, Any], cid: CommandId, now: float) -> Subscribe:
    topic = _topic(obj, cid)
    raw = obj.get("since")
    if raw is None:
        return Subscribe(id=cid, topic=topic)
    if not isinstance(raw, dict):
        raise _bad("'since' must be an object {seq, epoch}", cid)
    seq = raw.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise _bad("'since.seq' must be a non-negative 64-bit integer", cid)
    epoch = _string(raw, "epoch", cid, max_chars=MAX_TOPIC_CHARS)
    assert epoch is not None
    return Subscribe(id=cid, topic=topic, since=Position(seq=seq, epoch=epoch))


def _unsubscribe(obj: dict[str, Any], cid: CommandId, now: float) -> Unsubscribe:
    return Unsubscribe(id=cid, topic=_topic(obj, cid))


def _presence(obj: dict[str, Any], cid: CommandId, now: float) -> Presence:
    return Presence(id=cid, topic=_topic(obj, cid))


def _refresh(obj: dict[str, Any], cid: CommandId, now: float) -> Refresh:
    token = _string(obj, "token", cid, max_chars=MAX_TOKEN_CHARS)
    assert token is not None
    return Refresh(id=cid, token=token)


def _ping(obj: dict[str, Any], cid: CommandId, now: float) -> Ping:
    return Ping(id=cid)


def _publish(obj: dict[str, Any], cid: CommandId, now: float) -> Publish:
    topic = _topic(obj, cid)
    event = _string(obj, "event", cid, max_chars=MAX_EVENT_CHARS)
    assert event is not None
    if "data" not in obj:
        raise _bad("'data' is required", cid)
    return Publish(id=cid, topic=topic, event=event, data=obj["data"])


def _gps_ping(raw: Any, cid: CommandId, now: float) -> GpsPing:
    if not isinstance(raw, dict):
        raise _bad("each ping must be an object", cid)
    lat = _number(raw, "lat", cid, required=True)
    lon = _number(raw, "lon", cid, required=True)
    ts = _number(raw, "ts", cid, required=True)
    assert lat is not None and lon is not None and ts is not None
    if not -90.0 <= lat <= 90.0:
        raise _bad("'lat' must be within [-90, 90]", cid)
    if not -180.0 <= lon <= 180.0:
        raise _bad("'lon' must be within [-180, 180]", cid)
    if ts > now + GPS_FUTURE_S:
        raise _bad("'ts' is more than 60 s in the future", cid)
    accuracy = _number(raw, "accuracy", cid, required=False)
    speed = _number(raw, "speed", cid, required=False)
    heading = _number(raw, "heading", cid, required=False)
    if accuracy is not None and accuracy < 0:
        raise _bad("'accuracy' must be >= 0", cid)
    if speed is not None and speed < 0:
        raise _bad("'speed' must be >= 0", cid)
    if heading is not None and not 0.0 <= heading <= 360.0:
        raise _bad("'heading' must be within [0, 360]", cid)
    return GpsPing(lat=lat, lon=lon, ts=ts, accuracy=accuracy, speed=speed, heading=heading)


def _gps(obj: dict[str, Any], cid: CommandId, now: float) -> Gps:
    batch = obj.get("batch")
    if batch is None:
        return Gps(id=cid, pings=(_gps_ping(obj, cid, now),))
    if not isinstance(batch, list) or not batch:
        raise _bad("'batch' must be a non-empty array of pings", cid)
    if len(batch) > MAX_BATCH:
        raise _bad(f"'batch' holds at most {MAX_BATCH} pings", cid)
    return Gps(id=cid, pings=tuple(_gps_ping(item, cid, now) for item in batch))


_DECODERS: dict[str, Callable[[dict[str, Any], CommandId, float], Command]] = {
    "hello": _hello,
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "gps": _gps,
    "publish": _publish,
    "presence": _presence,
    "refresh": _refresh,
    "ping": _ping,
}


def decode_command(data: str | bytes, *, now: float) -> Command:
    """Decode one inbound text frame.

    Args:
        data: the frame's payload (``str``, or UTF-8 ``bytes`` on the fast path).
        now: the current epoch time, to check GPS timestamps.

    Returns:
        The command.

    Raises:
        ProtocolError: ``bad_request`` for anything that is not a well-formed command,
            with the command's ``id`` when it could be read.
    """
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _bad("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _bad("frame must be a JSON object")
    cid = _command_id(obj)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _bad("'type' must be a string", cid)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise _bad(f"unknown type {kind[:32]!r}", cid)
    return decoder(obj, cid, now)


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
