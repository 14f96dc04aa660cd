"""The sans-I/O frame decoder: bytes in, a command or ``bad_request`` out — never another exception."""

from __future__ import annotations

import math
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.gps.command import GPS_SPEC, Gps
from app.models.device import DEVICE_KINDS
from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.history import Publication
from hub.protocol import commands as c
from hub.protocol.frames import encode_error, encode_event
from hub.protocol.table import CommandTable
from hub.protocol.wsframe import text_frame

NOW = 1_763_700_000.0
# The table a hub of this application speaks: the core's commands and the GPS extension's.
decode_command = CommandTable([*c.core_commands(DEVICE_KINDS), GPS_SPEC]).decode


def decode(frame: object) -> c.Command:
    return decode_command(orjson.dumps(frame), now=NOW)


def test_hello_with_device() -> None:
    cmd = decode({"type": "hello", "token": "t", "device": {"id": "tablet-7", "kind": "kds", "app": "truckkds/2.3"}})
    assert cmd == c.Hello(token="t", device=c.Device("tablet-7", "kds", "truckkds/2.3"))


def test_subscribe_with_since() -> None:
    cmd = decode({"type": "subscribe", "id": 1, "topic": "kds:42", "since": {"seq": 17, "epoch": "e"}})
    assert cmd == c.Subscribe(id=1, topic="kds:42", since=c.Position(17, "e"))


def test_str_and_bytes_decode_alike() -> None:
    raw = '{"type":"ping","id":"a"}'
    assert decode_command(raw, now=NOW) == decode_command(raw.encode(), now=NOW) == c.Ping(id="a")


def test_gps_single_and_batch() -> None:
    single = decode({"type": "gps", "lat": 5.36, "lon": -4.01, "ts": NOW, "heading": 270})
    assert isinstance(single, Gps) and single.pings[0].heading == 270.0
    batch = decode({"type": "gps", "batch": [{"lat": 1, "lon": 2, "ts": NOW - 5}, {"lat": 1, "lon": 2, "ts": NOW}]})
    assert isinstance(batch, Gps) and len(batch.pings) == 2


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ([1, 2], "JSON object"),
        ({"id": 1}, "'type'"),
        ({"type": "nope", "id": 3}, "unknown type"),
        ({"type": "ping", "id": True}, "'id'"),
        ({"type": "ping", "id": "x" * 65}, "64"),
        ({"type": "ping", "id": 1.5}, "'id'"),
        ({"type": "subscribe", "id": 1}, "'topic'"),
        ({"type": "subscribe", "id": 1, "topic": ""}, "'topic'"),
        ({"type": "subscribe", "id": 1, "topic": "kds:1", "since": {"seq": -1, "epoch": "e"}}, "since.seq"),
        ({"type": "subscribe", "id": 1, "topic": "kds:1", "since": {"seq": 1}}, "'epoch'"),
        ({"type": "hello", "token": "t", "device": {"id": "d", "kind": "toaster"}}, "device.kind"),
        ({"type": "publish", "id": 1, "topic": "notice:1", "event": "notice.posted"}, "'data'"),
        ({"type": "gps", "lat": 91, "lon": 0, "ts": NOW}, "'lat'"),
        ({"type": "gps", "lat": 0, "lon": -181, "ts": NOW}, "'lon'"),
        ({"type": "gps", "lat": "5", "lon": 0, "ts": NOW}, "'lat' must be a number"),
        ({"type": "gps", "lat": 0, "lon": 0, "ts": NOW + 61}, "future"),
        ({"type": "gps", "lat": 0, "lon": 0, "ts": NOW, "heading": 361}, "'heading'"),
        ({"type": "gps", "batch": [{"lat": 0, "lon": 0, "ts": NOW}] * 101}, "at most 100"),
        ({"type": "gps", "batch": []}, "'batch'"),
    ],
)
def test_bad_frames_are_bad_request(frame: object, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert fragment in info.value.message


def test_error_keeps_a_readable_id() -> None:
    with pytest.raises(ProtocolError) as info:
        decode({"type": "subscribe", "id": "abc"})
    assert info.value.command_id == "abc"


@pytest.mark.parametrize("raw", ["NaN", '{"type":"gps","lat":NaN,"lon":0,"ts":1}', '{"type":"gps","lat":Infinity}'])
def test_non_json_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(ProtocolError):
        decode_command(raw, now=NOW)


def test_huge_integers_are_not_finite_numbers() -> None:
    with pytest.raises(ProtocolError):
        decode_command('{"type":"gps","lat":1e400,"lon":0,"ts":1}', now=NOW)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
command_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "subscribe", "unsubscribe", "gps", "publish", "presence", "refresh", "ping"])},
    optional={
        "id": json_values,
        "token": json_values,
        "topic": json_values,
        "since": json_values,
        "device": json_values,
        "lat": json_values,
        "lon": json_values,
        "ts": json_values,
        "batch": json_values,
        "event": json_values,
        "data": json_values,
        "heading": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _decode_or_bad_request(data)


@settings(max_examples=600, deadline=None)
@given(command_like)
def test_fuzz_command_shaped_objects(frame: dict[str, object]) -> None:
    _decode_or_bad_request(orjson.dumps(frame))


def _decode_or_bad_request(data: bytes) -> None:
    try:
        command = decode_command(data, now=time.time())
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_REQUEST
        assert exc.command_id is None or isinstance(exc.command_id, str | int)
    else:
        assert isinstance(
            command, c.Hello | c.Subscribe | c.Unsubscribe | Gps | c.Publish | c.Presence | c.Refresh | c.Ping
        )
        if isinstance(command, Gps):
            assert all(math.isfinite(p.lat) and -90 <= p.lat <= 90 for p in command.pings)


def test_encode_event_is_valid_json_with_the_contract_fields() -> None:
    pub = Publication("kds:42", 18, "ep", "ticket.created", b'{"id":1,"items":[]}', 1_763_700_000.5)
    assert orjson.loads(encode_event(pub)) == {
        "type": "event",
        "topic": "kds:42",
        "seq": 18,
        "epoch": "ep",
        "event": "ticket.created",
        "data": {"id": 1, "items": []},
        "ts": 1_763_700_000.5,
    }


def test_encode_error_shape() -> None:
    assert orjson.loads(encode_error(ErrorCode.FORBIDDEN, "no", 4)) == {
        "type": "error",
        "id": 4,
        "code": "forbidden",
        "message": "no",
    }


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_lengths(size: int) -> None:
    frame = text_frame(b"a" * size)
    assert frame[0] == 0x81
    header = {True: 2, False: 4 if size < 65536 else 10}[size < 126]
    assert len(frame) == header + size


@pytest.mark.parametrize("raw", ['{"type":"ping","id":99999999999999999999}', '{"type":"ping","id":-1e400}'])
def test_out_of_range_numbers_are_bad_request(raw: str) -> None:
    _decode_or_bad_request(raw.encode())
