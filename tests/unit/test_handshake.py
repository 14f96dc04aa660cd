"""The upgrade request and its answer: RFC 6455 §4.2, fuzzed, with websockets as an independent reference."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from hub.server.handshake import MAX_HEADERS, Handshake, accept_key

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example


def request(*headers: tuple[str, str], line: str = "GET /ws?x=1 HTTP/1.1") -> bytes:
    lines = [line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


UPGRADE = (
    ("Host", "hub.example"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
)


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_the_rfc_example_key() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_valid_upgrade_is_accepted_by_a_real_client() -> None:
    """websockets' own client takes our 101 (accept key, headers), and the scope carries path, query, headers."""
    client = ClientProtocol(parse_uri("ws://hub.example/ws?x=1"))
    sent = client.connect()
    client.send_request(sent)
    raw = b"".join(client.data_to_send())
    handshake = Handshake(raw)
    assert handshake.valid() is None
    scope = handshake.scope(("127.0.0.1", 8000), ("127.0.0.1", 5000), "ws", "")
    assert (scope["path"], scope["query_string"]) == ("/ws", b"x=1")
    assert (b"host", b"hub.example") in scope["headers"]
    client.receive_data(handshake.accept([(b"X-Request-Id", b"abc")], subprotocol=None))
    assert client.handshake_exc is None and client.state is State.OPEN
    (response,) = client.events_received()
    assert response.headers["X-Request-Id"] == "abc"


def test_subprotocols_are_offered_to_the_app_and_echoed() -> None:
    handshake = Handshake(request(*UPGRADE, ("Sec-WebSocket-Protocol", "fx.v1, fx.v0")))
    assert handshake.valid() is None
    assert handshake.scope(None, None, "ws", "")["subprotocols"] == ["fx.v1", "fx.v0"]
    assert b"\r\nSec-WebSocket-Protocol: fx.v1\r\n" in handshake.accept(subprotocol="fx.v1")


@pytest.mark.parametrize(
    ("data", "code", "header"),
    [
        (request(*UPGRADE, line="POST /ws HTTP/1.1"), 405, b"Allow: GET"),
        (request(*UPGRADE, line="GET /ws HTTP/1.0"), 505, None),
        (request(*UPGRADE[:1], *UPGRADE[2:]), 426, b"Upgrade: websocket"),  # no Upgrade
        (request(*UPGRADE[:2], *UPGRADE[3:]), 426, b"Upgrade: websocket"),  # no Connection
        (request(*UPGRADE[:4], ("Sec-WebSocket-Version", "8")), 426, b"Sec-WebSocket-Version: 13"),
        (request(*UPGRADE[:3], ("Sec-WebSocket-Key", "c2hvcnQ="), UPGRADE[4]), 400, None),  # 5 bytes
        (request(*UPGRADE, ("Sec-WebSocket-Key", KEY)), 400, None),  # two keys
        (b"GET /ws HTTP/1.1\r\nHost hub\r\n\r\n", 400, None),  # no colon
        (b"GET /ws HTTP/1.1\r\n folded: line\r\n\r\n", 400, None),
        (request(*UPGRADE, line="GET http://hub/ws HTTP/1.1"), 400, None),  # absolute-form
        (request(*UPGRADE, *[("X-Filler", "a")] * MAX_HEADERS), 400, None),
    ],
    ids=["POST", "HTTP/1.0", "no Upgrade", "no Connection", "version 8", "short key", "two keys", "no colon",
         "folded", "absolute-form", "too many headers"],
)  # fmt: skip
def test_refusals_say_why_and_close(data: bytes, code: int, header: bytes | None) -> None:
    response = Handshake(data).valid()
    assert response is not None and status(response) == code
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head and body.endswith(b"\n") and len(body) > 10
    assert header is None or b"\r\n" + header + b"\r\n" in head + b"\r\n"


def test_refuse_keeps_the_callers_headers_and_sets_length() -> None:
    response = Handshake(b"").refuse(503, b"busy\n", [(b"Retry-After", b"1"), (b"Content-Type", b"text/x")])
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and body == b"busy\n"
    assert b"\r\nRetry-After: 1" in head and b"\r\nContent-Length: 5" in head
    assert head.count(b"Content-Type") == 1 and b"text/x" in head


def test_a_header_that_would_split_the_response_is_a_bug() -> None:
    handshake = Handshake(request(*UPGRADE))
    assert handshake.valid() is None
    with pytest.raises(ValueError):
        handshake.accept([(b"X-Bad", b"a\r\nSet-Cookie: x")])


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_get_an_answer_never_an_exception(data: bytes) -> None:
    for candidate in (data, data + b"\r\n\r\n", b"GET /ws HTTP/1.1\r\n" + data + b"\r\n\r\n"):
        response = Handshake(candidate).valid()
        assert response is None or response.startswith(b"HTTP/1.1 4") or response.startswith(b"HTTP/1.1 5")


header_names = st.sampled_from(["Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin"])
header_values = st.one_of(
    st.sampled_from(["websocket", "WebSocket", "Upgrade", "keep-alive, Upgrade", "13", "8", KEY, "", "h2c"]),
    st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)


@SETTINGS
@given(
    st.lists(st.tuples(header_names, header_values), max_size=4),
    st.sets(st.integers(0, len(UPGRADE) - 1), max_size=len(UPGRADE)),
    st.sampled_from(["GET", "POST", "get"]),
)
def test_accepts_exactly_what_websockets_accepts(extra: list[tuple[str, str]], dropped: set[int], method: str) -> None:
    """Valid or not: the same verdict as websockets' server for every request built from these parts."""
    headers = [h for i, h in enumerate(UPGRADE) if i not in dropped] + extra
    data = request(*headers, line=f"{method} /ws HTTP/1.1")
    ours = Handshake(data).valid() is None
    reference = ServerProtocol()
    reference.receive_data(data)
    events = reference.events_received()
    theirs = bool(events) and isinstance(events[0], Request) and reference.accept(events[0]).status_code == 101
    assert ours == theirs, data
