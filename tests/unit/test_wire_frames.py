"""Server frame encoding, close payload rules and unmasking of the sans-I/O framing layer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame
from websockets.streams import StreamReader

from hub.codes import CloseCode, RfcCloseCode
from hub.protocol import wsframe
from hub.wire import frames as f
from hub.wire.mask import SMALL, unmask
from tests.support.clientframes import naive_mask

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def websockets_decode(data: bytes) -> Frame:
    """Parse one unmasked server frame with websockets' client-side parser (the reference)."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert not reader.buffer, "bytes left after the frame"
        return frame
    raise AssertionError("frame incomplete")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [f.Opcode.TEXT, f.Opcode.BINARY])
def test_data_frames_decode_with_websockets(opcode: f.Opcode, size: int) -> None:
    payload = bytes(i % 7 + 97 for i in range(size))
    data = f.text_frame(payload) if opcode is f.Opcode.TEXT else f.binary_frame(payload)
    assert data == f.encode_frame(opcode, payload)
    frame = websockets_decode(data)
    assert (frame.opcode, bytes(frame.data), frame.fin, frame.rsv1) == (opcode, payload, True, False)
    # §5.2: the minimal length encoding.
    assert len(data) - size == (2 if size < 126 else 4 if size < 65536 else 10)
    assert f.payload_of(data) == payload


def test_wsframe_keeps_its_names() -> None:
    assert wsframe.text_frame is f.text_frame
    assert wsframe.payload_of is f.payload_of


@pytest.mark.parametrize("build", [f.ping_frame, f.pong_frame])
def test_control_frames(build: Callable[[bytes], bytes]) -> None:
    frame = websockets_decode(build(b"x" * 125))
    assert bytes(frame.data) == b"x" * 125 and frame.fin
    with pytest.raises(ValueError, match="125"):
        build(b"x" * 126)


def test_close_frame_carries_code_and_reason() -> None:
    frame = websockets_decode(f.close_frame(CloseCode.UNAUTHORIZED, "token expired"))
    assert bytes(frame.data) == b"\x11\x31token expired"  # 4401
    assert f.close_frame(None) == b"\x88\x00"
    assert f.close_frame() == b"\x88\x02\x03\xe8"  # 1000 by default


@pytest.mark.parametrize("reason", ["é" * 100, "a" + "€" * 60, "x" * 200, "🚚" * 40])
def test_close_reason_is_cut_to_123_bytes_on_a_character_boundary(reason: str) -> None:
    raw = f.close_payload(CloseCode.SLOW_CONSUMER, reason)[2:]
    assert len(raw) <= 123
    cut = raw.decode()  # would raise if a character had been split
    assert reason.startswith(cut)
    assert len(raw) > 123 - 4  # only the character straddling byte 123 was dropped


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_unsendable_close_codes_are_refused(code: int) -> None:
    assert not f.is_valid_close_code(code)
    with pytest.raises(ValueError, match="may not be sent"):
        f.close_frame(code)


@pytest.mark.parametrize("code", [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4400, 4999])
def test_sendable_close_codes(code: int) -> None:
    assert f.is_valid_close_code(code)
    assert f.close_payload(code)[:2] == code.to_bytes(2, "big")


def test_every_hub_close_code_is_sendable() -> None:
    assert all(f.is_valid_close_code(code) for code in CloseCode)
    assert all(f.is_valid_close_code(code) for code in (RfcCloseCode.PROTOCOL_ERROR, RfcCloseCode.INVALID_DATA))


def test_reason_without_code_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a close code"):
        f.close_payload(None, "why")


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=2 * SMALL) | st.sampled_from([b"\xff" * n for n in (SMALL - 1, SMALL, SMALL + 1, 4096)]),
    st.binary(min_size=4, max_size=4),
)
def test_unmask_matches_the_byte_by_byte_definition(data: bytes, key: bytes) -> None:
    assert unmask(data, key) == naive_mask(data, key)
    assert unmask(unmask(data, key), key) == data


def test_unmask_needs_a_4_byte_key() -> None:
    with pytest.raises(ValueError):
        unmask(b"abc", b"abc")
