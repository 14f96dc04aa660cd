"""The client-frame parser: every RFC 6455 rule it enforces, each with its exact close code."""

from __future__ import annotations

import functools

import pytest

from hub.codes import RfcCloseCode
from hub.wire.events import BinaryMessage, Close, Event, Failure, Ping, Pong, TextMessage
from hub.wire.frames import Opcode
from hub.wire.parser import FrameParser
from tests.support.clientframes import ZERO_KEY, client_frame, close_body

CONT, TEXT, BINARY, CLOSE, PING, PONG = (int(op) for op in Opcode)
PROTOCOL, UTF8, TOO_BIG = RfcCloseCode.PROTOCOL_ERROR, RfcCloseCode.INVALID_DATA, RfcCloseCode.MESSAGE_TOO_BIG
LIMIT = 100  # max_message_size in these tests


def parse(data: bytes, *, chunk: int | None = None) -> list[Event]:
    """Feed ``data`` whole, or in ``chunk``-byte pieces; every event, in order."""
    parser = FrameParser(max_message_size=LIMIT)
    if chunk is None:
        return parser.feed(data)
    events: list[Event] = []
    for at in range(0, len(data), chunk):
        events += parser.feed(data[at : at + chunk])
    return events


text = functools.partial(client_frame, TEXT)


# (id, stream, code): the stream must fail with exactly this code, after no other event but those listed.
FAILURES: list[tuple[str, bytes, RfcCloseCode]] = [
    # §5.1: client frames must be masked.
    ("unmasked text", text(b"hi", masked=False), PROTOCOL),
    ("unmasked ping", client_frame(PING, b"", masked=False), PROTOCOL),
    ("unmasked close", client_frame(CLOSE, b"", masked=False), PROTOCOL),
    # §5.2: no extension negotiated, so RSV1-3 must be 0.
    ("rsv1", text(b"hi", rsv=4), PROTOCOL),
    ("rsv2", text(b"hi", rsv=2), PROTOCOL),
    ("rsv3", text(b"hi", rsv=1), PROTOCOL),
    ("rsv on a control frame", client_frame(PING, b"", rsv=4), PROTOCOL),
    # §5.2: reserved opcodes.
    *(
        (f"reserved opcode {op:#x}", client_frame(op, b"x"), PROTOCOL)
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
    ),
    # §5.5: control frames are not fragmented and carry at most 125 bytes.
    *((f"fragmented {Opcode(op).name}", client_frame(op, b"", fin=False), PROTOCOL) for op in (PING, PONG, CLOSE)),
    *((f"126-byte {Opcode(op).name}", client_frame(op, b"a" * 126), PROTOCOL) for op in (PING, PONG)),
    ("126-byte close", client_frame(CLOSE, close_body(1000, b"a" * 124)), PROTOCOL),
    # §5.2 wants the minimal length form; data frames are let off (as websockets does), control frames are not.
    ("ping in the 16-bit length form", client_frame(PING, b"abc", length_form=126), PROTOCOL),
    # §5.4: fragmentation.
    ("continuation first", client_frame(CONT, b"x", fin=False), PROTOCOL),
    ("final continuation first", client_frame(CONT, b"x", fin=True), PROTOCOL),
    ("text inside a fragmented text", client_frame(TEXT, b"a", fin=False) + text(b"b"), PROTOCOL),
    ("binary inside a fragmented text", client_frame(TEXT, b"a", fin=False) + client_frame(BINARY, b"b"), PROTOCOL),
    ("text start inside a fragmented binary", client_frame(BINARY, b"a", fin=False) + text(b"b", fin=False), PROTOCOL),
    (
        "continuation after the message ended",
        client_frame(TEXT, b"a", fin=False) + client_frame(CONT, b"b") + client_frame(CONT, b"c"),
        PROTOCOL,
    ),
    # §5.2: a 64-bit length's most significant bit must be 0.
    ("64-bit length with the top bit", client_frame(BINARY, b"", length=1 << 63, length_form=127), PROTOCOL),
    ("64-bit length all ones", client_frame(BINARY, b"", length=(1 << 64) - 1, length_form=127), PROTOCOL),
    # §10.4: message size limit, on the announced length and across fragments.
    ("one byte over the limit", text(b"a" * (LIMIT + 1)), TOO_BIG),
    ("over the limit in a binary", client_frame(BINARY, b"a" * (LIMIT + 1)), TOO_BIG),
    ("huge length announced, no payload sent", client_frame(BINARY, b"", length=1 << 40), TOO_BIG),
    ("16-bit length over the limit", client_frame(TEXT, b"", length=LIMIT + 1, length_form=126), TOO_BIG),
    ("fragments over the limit", client_frame(TEXT, b"a" * 60, fin=False) + client_frame(CONT, b"a" * 41), TOO_BIG),
    (
        "many small fragments",
        client_frame(BINARY, b"a" * 50, fin=False)
        + client_frame(CONT, b"a" * 50, fin=False)
        + client_frame(CONT, b"a"),
        TOO_BIG,
    ),
    # §8.1: text is UTF-8.
    ("invalid UTF-8 text", text(b"\xff"), UTF8),
    ("overlong encoding", text(b"\xc0\xaf"), UTF8),
    ("UTF-16 surrogate", text(b"\xed\xa0\x80"), UTF8),
    ("beyond U+10FFFF", text(b"\xf4\x90\x80\x80"), UTF8),
    ("truncated sequence", text(b"caf\xc3"), UTF8),
    (
        "truncated sequence at the end of fragments",
        client_frame(TEXT, b"caf", fin=False) + client_frame(CONT, b"\xc3"),
        UTF8,
    ),
    (
        "invalid fragment, message unfinished",
        client_frame(TEXT, b"ok", fin=False) + client_frame(CONT, b"\xff", fin=False),
        UTF8,
    ),
    ("invalid first fragment", client_frame(TEXT, b"\xfe", fin=False), UTF8),
    # §5.5.1 and §7.4: close payloads.
    ("1-byte close payload", client_frame(CLOSE, b"\x03"), PROTOCOL),
    *(
        (f"close code {code}", client_frame(CLOSE, close_body(code)), PROTOCOL)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ),
    ("close reason not UTF-8", client_frame(CLOSE, close_body(1000, b"\xff")), UTF8),
]


@pytest.mark.parametrize(("stream", "code"), [(s, c) for _, s, c in FAILURES], ids=[i for i, _, _ in FAILURES])
def test_rule_violations_fail_with_their_code(stream: bytes, code: RfcCloseCode) -> None:
    for chunk in (None, 1, 3):
        events = parse(stream, chunk=chunk)
        assert isinstance(events[-1], Failure), events
        assert events[-1].code == code, events[-1]
        assert all(not isinstance(e, Failure | Close) for e in events[:-1])


def test_a_failure_is_final() -> None:
    parser = FrameParser()
    assert parser.feed(text(b"ok") + text(b"x", masked=False) + text(b"lost")) == [
        TextMessage(b"ok"),
        Failure(PROTOCOL, "frame not masked"),
    ]
    assert parser.finished
    assert parser.feed(text(b"ignored")) == []


def test_the_limit_is_checked_before_the_payload_arrives() -> None:
    parser = FrameParser(max_message_size=LIMIT)
    header = client_frame(BINARY, b"", length=LIMIT + 1, length_form=126)  # 2 + 2 + 4 bytes, no payload
    assert parser.feed(header[:3]) == []  # the extended length is not complete yet
    assert parser.feed(header[3:]) == [Failure(TOO_BIG, f"message over {LIMIT} bytes")]


def test_a_fragmented_failure_comes_before_the_rest_of_the_message() -> None:
    parser = FrameParser()
    assert parser.feed(client_frame(TEXT, b"\xff", fin=False)) == [Failure(UTF8, "text message is not valid UTF-8")]


VALID: list[tuple[str, bytes, list[Event]]] = [
    ("text", text(b"hello"), [TextMessage(b"hello")]),
    ("empty text", text(b""), [TextMessage(b"")]),
    ("UTF-8 text", text("héllo €🚚".encode()), [TextMessage("héllo €🚚".encode())]),
    ("binary that is not UTF-8", client_frame(BINARY, b"\xff\x00"), [BinaryMessage(b"\xff\x00")]),
    ("exactly the limit", text(b"a" * LIMIT), [TextMessage(b"a" * LIMIT)]),
    (
        "fragments up to the limit",
        client_frame(BINARY, b"a" * 60, fin=False) + client_frame(CONT, b"b" * 40),
        [BinaryMessage(b"a" * 60 + b"b" * 40)],
    ),
    ("zero key", text(b"plain", key=ZERO_KEY), [TextMessage(b"plain")]),
    ("ping", client_frame(PING, b"p" * 125), [Ping(b"p" * 125)]),
    ("pong", client_frame(PONG, b""), [Pong(b"")]),
    ("empty close", client_frame(CLOSE, b""), [Close(None, "")]),
    ("close with code", client_frame(CLOSE, close_body(1001)), [Close(1001, "")]),
    ("close with reason", client_frame(CLOSE, close_body(4000, "bientôt".encode())), [Close(4000, "bientôt")]),
    ("close with a 123-byte reason", client_frame(CLOSE, close_body(1000, b"r" * 123)), [Close(1000, "r" * 123)]),
    *(
        (f"close code {c}", client_frame(CLOSE, close_body(c)), [Close(c, "")])
        for c in (1000, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999)
    ),
    (
        "a character split across fragments",
        client_frame(TEXT, b"caf\xc3", fin=False) + client_frame(CONT, b"\xa9"),
        [TextMessage("café".encode())],
    ),
    (
        "empty fragments",
        client_frame(TEXT, b"", fin=False) + client_frame(CONT, b"", fin=False) + client_frame(CONT, b""),
        [TextMessage(b"")],
    ),
    (
        "controls between fragments (§5.4)",
        client_frame(TEXT, b"a", fin=False)
        + client_frame(PING, b"1")
        + client_frame(CONT, b"b", fin=False)
        + client_frame(PONG, b"2")
        + client_frame(CONT, b"c"),
        [Ping(b"1"), Pong(b"2"), TextMessage(b"abc")],
    ),
    (
        "a close between fragments ends it all",
        client_frame(TEXT, b"a", fin=False) + client_frame(CLOSE, close_body(1000)) + client_frame(CONT, b"b"),
        [Close(1000, "")],
    ),
    (
        "nothing after a close (§1.4)",
        client_frame(CLOSE, b"") + text(b"late") + text(b"x", masked=False),
        [Close(None, "")],
    ),
    ("non-minimal 16-bit length", client_frame(TEXT, b"short", length_form=126), [TextMessage(b"short")]),
    ("non-minimal 64-bit length", client_frame(BINARY, b"short", length_form=127), [BinaryMessage(b"short")]),
    (
        "several frames",
        text(b"1") + client_frame(BINARY, b"2") + text(b"3"),
        [TextMessage(b"1"), BinaryMessage(b"2"), TextMessage(b"3")],
    ),
]


@pytest.mark.parametrize(("stream", "expected"), [(s, e) for _, s, e in VALID], ids=[i for i, _, _ in VALID])
def test_valid_streams(stream: bytes, expected: list[Event]) -> None:
    for chunk in (None, 1, 2, 5, 7):
        assert parse(stream, chunk=chunk) == expected


def test_large_payloads_across_length_forms() -> None:
    parser = FrameParser(max_message_size=1 << 20)
    for size in (125, 126, 255, 256, 257, 65535, 65536, 100_000):
        payload = bytes(i % 251 for i in range(size))
        stream = client_frame(BINARY, payload)
        events = parser.feed(stream[:5]) + parser.feed(stream[5:-1]) + parser.feed(stream[-1:])
        assert events == [BinaryMessage(payload)], size


def test_nothing_is_returned_until_a_frame_is_complete() -> None:
    parser = FrameParser()
    stream = text(b"hello")
    for byte in stream[:-1]:
        assert parser.feed(bytes([byte])) == []
    assert parser.feed(stream[-1:]) == [TextMessage(b"hello")]
    assert parser.feed(b"") == []


def test_control_seen_flags_what_the_connection_must_act_on() -> None:
    parser = FrameParser()
    parser.feed(text(b"a"))
    assert not parser.control_seen
    parser.feed(client_frame(PONG, b""))
    assert not parser.control_seen
    parser.feed(client_frame(PING, b""))
    assert parser.control_seen
    parser.feed(text(b"b"))
    assert not parser.control_seen
    parser.feed(client_frame(CLOSE, b""))
    assert parser.control_seen and parser.finished


def test_text_event_decodes() -> None:
    assert TextMessage("é".encode()).text == "é"
