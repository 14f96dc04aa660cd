"""The server connection state machine: pongs, the closing handshake both ways, failing, discarding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.codes import CloseCode, RfcCloseCode
from hub.wire.connection import CLOSED, CLOSING, OPEN, ServerConnection
from hub.wire.events import BinaryMessage, Close, Failure, Ping, Pong, TextMessage
from hub.wire.frames import Opcode, binary_frame, close_frame, ping_frame, pong_frame, text_frame
from tests.support.clientframes import client_frame, close_body

CONT, TEXT, BINARY, CLOSE, PING, PONG = (int(op) for op in Opcode)


def test_messages_pass_through_and_nothing_is_written() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"hello") + client_frame(BINARY, b"\x00"))
    conn.receive_data(client_frame(TEXT, b"again"))
    assert conn.events_received() == [TextMessage(b"hello"), BinaryMessage(b"\x00"), TextMessage(b"again")]
    assert conn.events_received() == []
    assert not conn.has_data_to_send()
    assert conn.data_to_send() == []
    assert conn.state is OPEN


def test_a_ping_is_answered_with_its_payload() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"a") + client_frame(PING, b"are you there") + client_frame(PONG, b"p"))
    assert conn.events_received() == [TextMessage(b"a"), Ping(b"are you there"), Pong(b"p")]
    assert conn.has_data_to_send()  # the I/O layer asks this per read before taking the bytes
    assert conn.data_to_send() == [pong_frame(b"are you there")]
    assert not conn.has_data_to_send()


def test_a_ping_between_fragments_is_answered_at_once() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"a", fin=False) + client_frame(PING, b"1"))
    assert conn.data_to_send() == [pong_frame(b"1")]
    conn.receive_data(client_frame(CONT, b"b"))
    assert conn.events_received() == [Ping(b"1"), TextMessage(b"ab")]


@pytest.mark.parametrize(
    ("payload", "event"),
    [(close_body(1000, b"bye"), Close(1000, "bye")), (b"", Close(None, "")), (close_body(4001), Close(4001, ""))],
)
def test_the_peer_closes_first_and_its_close_is_echoed(payload: bytes, event: Close) -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"last") + client_frame(CLOSE, payload) + client_frame(TEXT, b"too late"))
    assert conn.events_received() == [TextMessage(b"last"), event]
    assert conn.data_to_send() == [client_frame(CLOSE, payload, masked=False)]  # §5.5.1: echo the code
    assert conn.state is CLOSED
    assert conn.close_received == event and conn.close_sent == event
    conn.receive_data(client_frame(TEXT, b"later"))
    assert conn.events_received() == [] and conn.data_to_send() == []


def test_we_close_first_and_wait_for_the_peer() -> None:
    conn = ServerConnection()
    assert conn.send_close(CloseCode.TIMEOUT, "heartbeat lost")
    assert conn.state is CLOSING
    assert conn.data_to_send() == [close_frame(CloseCode.TIMEOUT, "heartbeat lost")]
    # §1.4: after our close, data and pings are discarded (and pings not answered)...
    conn.receive_data(client_frame(TEXT, b"in flight") + client_frame(PING, b"x") + client_frame(BINARY, b"b"))
    assert conn.events_received() == [] and conn.data_to_send() == []
    assert conn.state is CLOSING
    # ...and the peer's close completes the handshake, without another close from us.
    conn.receive_data(client_frame(CLOSE, close_body(CloseCode.TIMEOUT)))
    assert conn.events_received() == [Close(CloseCode.TIMEOUT, "")]
    assert conn.data_to_send() == []
    assert conn.state is CLOSED
    assert conn.close_sent == Close(CloseCode.TIMEOUT, "heartbeat lost")


def test_a_fragmented_message_in_flight_when_we_close_does_not_fail() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"a", fin=False))
    conn.send_close()
    conn.receive_data(client_frame(CONT, b"b") + client_frame(CLOSE, b""))
    assert conn.events_received() == [Close(None, "")]
    assert conn.state is CLOSED


def test_nothing_is_sent_once_closing() -> None:
    conn = ServerConnection()
    conn.send_close(RfcCloseCode.GOING_AWAY, "draining")
    conn.data_to_send()
    assert not conn.send_text(b"x")
    assert not conn.send_binary(b"x")
    assert not conn.send_ping()
    assert not conn.send_close()
    assert conn.data_to_send() == []


def test_send_frames() -> None:
    conn = ServerConnection()
    assert conn.send_text(b'{"type":"pong"}') and conn.send_binary(b"\x01") and conn.send_ping(b"hb")
    assert conn.data_to_send() == [text_frame(b'{"type":"pong"}'), binary_frame(b"\x01"), ping_frame(b"hb")]


def test_an_invalid_close_code_is_refused_and_changes_nothing() -> None:
    conn = ServerConnection()
    with pytest.raises(ValueError):
        conn.send_close(RfcCloseCode.NO_STATUS_RCVD)
    assert conn.state is OPEN and conn.data_to_send() == []


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (client_frame(TEXT, b"x", masked=False), RfcCloseCode.PROTOCOL_ERROR),
        (client_frame(TEXT, b"\xff"), RfcCloseCode.INVALID_DATA),
        (client_frame(BINARY, b"x" * 11), RfcCloseCode.MESSAGE_TOO_BIG),
        (client_frame(CLOSE, close_body(1005)), RfcCloseCode.PROTOCOL_ERROR),
    ],
)
def test_a_protocol_failure_sends_its_close_code_and_stops(stream: bytes, code: RfcCloseCode) -> None:
    conn = ServerConnection(max_message_size=10)
    conn.receive_data(client_frame(PING, b"first") + stream + client_frame(PING, b"never"))
    events = conn.events_received()
    assert events[0] == Ping(b"first")
    assert isinstance(events[1], Failure) and events[1].code == code and len(events) == 2
    assert conn.data_to_send() == [pong_frame(b"first"), close_frame(code, events[1].reason)]
    assert conn.state is CLOSED
    assert conn.close_sent == Close(code, events[1].reason) and conn.close_received is None


def test_a_failure_while_closing_sends_nothing_more() -> None:
    conn = ServerConnection()
    conn.send_close(CloseCode.SLOW_CONSUMER, "too slow")
    conn.data_to_send()
    conn.receive_data(client_frame(TEXT, b"x", masked=False))
    assert [type(e) for e in conn.events_received()] == [Failure]
    assert conn.data_to_send() == []
    assert conn.state is CLOSED


def test_fail_sends_close_and_stops_reading() -> None:
    conn = ServerConnection()
    conn.fail(CloseCode.TIMEOUT, "no hello in time")
    assert conn.data_to_send() == [close_frame(CloseCode.TIMEOUT, "no hello in time")]
    assert conn.state is CLOSED
    conn.receive_data(client_frame(TEXT, b"x"))
    assert conn.events_received() == [] and conn.data_to_send() == []
    conn.fail(CloseCode.TIMEOUT)  # twice is harmless
    assert conn.data_to_send() == []


def test_eof_closes() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(TEXT, b"par"))
    conn.receive_eof()
    assert conn.state is CLOSED and conn.close_received is None
    conn.receive_data(client_frame(TEXT, b"x"))
    assert conn.events_received() == [TextMessage(b"par")]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40) | st.sampled_from([client_frame(PING, b"p"), client_frame(CLOSE, b"")]), max_size=8
    ),
    st.sampled_from(["none", "close", "fail"]),
)
def test_any_input_keeps_the_state_machine_consistent(chunks: list[bytes], action: str) -> None:
    conn = ServerConnection()
    if action == "close":
        conn.send_close()
    elif action == "fail":
        conn.fail(CloseCode.INTERNAL_ERROR)
    closing = conn.state is CLOSING
    for chunk in chunks:
        conn.receive_data(chunk)
    events = conn.events_received()
    writes = conn.data_to_send()
    ended = [e for e in events if isinstance(e, Close | Failure)]
    assert ended in ([], events[-1:])
    assert (conn.state is CLOSED) == (action == "fail" or bool(ended))
    if closing:  # after our close nothing but the end is reported, and nothing more is written
        assert events == ended and writes == [close_frame()]
    close_frames = [w for w in writes if w[0] == 0x88]
    assert len(close_frames) <= 1 and (not close_frames or close_frames == writes[-1:])
