"""The ``gps`` command (protocol.md §2.2, §2.5): one ping, or an offline batch, from a driver's phone.

Registered into the hub's command table by the application; decoded with the core's field
helpers, so a bad ping fails exactly like any other malformed command (``bad_request``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hub.protocol.commands import CommandSpec
from hub.protocol.fields import ID_SCHEMA, CommandId, Schema, bad, command_schema, number
from hub.protocol.frames import frame_schema

__all__ = ["ACK_FRAME", "GPS_FUTURE_S", "GPS_SPEC", "MAX_BATCH", "Gps", "GpsPing", "encode_ack"]

MAX_BATCH = 100  # "a batch array of pings (at most 100, oldest first)"
GPS_FUTURE_S = 60.0  # protocol.md §2.5: "ts more than 60 s in the future" is bad_request


@dataclass(slots=True)
class GpsPing:
    """One position from the phone. Plain slots, not frozen (one per ping: see ``hub.history.Publication``)."""

    lat: float
    lon: float
    ts: float
    accuracy: float | None = None
    speed: float | None = None
    heading: float | None = None


@dataclass(slots=True)
class Gps:
    """One ping, or an offline ``batch`` (oldest first); ``pings`` is never empty."""

    id: CommandId
    pings: tuple[GpsPing, ...]


def _ping(raw: Any, cid: CommandId, now: float) -> GpsPing:
    if not isinstance(raw, dict):
        raise bad("each ping must be an object", cid)
    lat = number(raw, "lat", cid, required=True)
    lon = number(raw, "lon", cid, required=True)
    ts = number(raw, "ts", cid, required=True)
    assert lat is not None and lon is not None and ts is not None
    if not -90.0 <= lat <= 90.0:
        raise bad("'lat' must be within [-90, 90]", cid)
    if not -180.0 <= lon <= 180.0:
        raise bad("'lon' must be within [-180, 180]", cid)
    if ts > now + GPS_FUTURE_S:
        raise bad("'ts' is more than 60 s in the future", cid)
    accuracy = number(raw, "accuracy", cid, required=False)
    speed = number(raw, "speed", cid, required=False)
    heading = number(raw, "heading", cid, required=False)
    if accuracy is not None and accuracy < 0:
        raise bad("'accuracy' must be >= 0", cid)
    if speed is not None and speed < 0:
        raise bad("'speed' must be >= 0", cid)
    if heading is not None and not 0.0 <= heading <= 360.0:
        raise bad("'heading' must be within [0, 360]", cid)
    return GpsPing(lat=lat, lon=lon, ts=ts, accuracy=accuracy, speed=speed, heading=heading)


def decode_gps(obj: dict[str, Any], cid: CommandId, now: float) -> Gps:
    batch = obj.get("batch")
    if batch is None:
        return Gps(id=cid, pings=(_ping(obj, cid, now),))
    if not isinstance(batch, list) or not batch:
        raise bad("'batch' must be a non-empty array of pings", cid)
    if len(batch) > MAX_BATCH:
        raise bad(f"'batch' holds at most {MAX_BATCH} pings", cid)
    return Gps(id=cid, pings=tuple(_ping(item, cid, now) for item in batch))


_NULLABLE = {"type": ["number", "null"]}
_PING: dict[str, Schema] = {
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "ts": {"type": "number", "description": "epoch seconds; at most 60 s in the future, else bad_request"},
    "accuracy": {**_NULLABLE, "minimum": 0, "description": "metres"},
    "speed": {**_NULLABLE, "minimum": 0, "description": "metres per second"},
    "heading": {**_NULLABLE, "minimum": 0, "maximum": 360, "description": "degrees clockwise from north"},
}
_GPS_SCHEMA = command_schema(
    "gps",
    "A driver's position (drivers only), or an offline batch of them; pings older than the newest are ignored.",
    {
        **_PING,
        "batch": {
            "type": "array",
            "description": f"instead of one ping's fields: up to {MAX_BATCH} pings, oldest first",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {"type": "object", "properties": _PING, "required": ["lat", "lon", "ts"]},
        },
    },
)
_GPS_SCHEMA["anyOf"] = [{"required": ["lat", "lon", "ts"]}, {"required": ["batch"]}]

ACK_FRAME = frame_schema("ack", "The gps frame was stored (only when it had an id).", {"id": ID_SCHEMA})
_ACK = b'{"type":"ack","id":'


def encode_ack(cid: CommandId) -> bytes:
    return _ACK + orjson.dumps(cid) + b"}"


# Drivers have HUB_GPS_PER_S instead of the command budget.
GPS_SPEC = CommandSpec("gps", Gps, decode_gps, "gps", counted=False, schema=_GPS_SCHEMA, replies=("ack",))
