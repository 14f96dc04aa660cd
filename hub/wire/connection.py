"""The server side of one WebSocket connection after the handshake (RFC 6455 §5-§7), sans-I/O.

Bytes in through :meth:`~ServerConnection.receive_data` / :meth:`~ServerConnection.receive_eof`,
events out through :meth:`~ServerConnection.events_received`, bytes to write out through
:meth:`~ServerConnection.data_to_send` — the shape of websockets' ``Protocol``, server side
only, never awaiting and never touching a socket. The I/O layer around it owns the
transport and the timers (the close timeout, the heartbeat).

States::

    OPEN ──send_close()──▶ CLOSING ──peer's close / failure / EOF──▶ CLOSED
      └──────peer's close (echoed) / failure / fail() / EOF──────────────┘

Once the state is ``CLOSED`` the I/O layer writes what :meth:`data_to_send` returns and
then closes the TCP connection: §7.1.1, "the underlying TCP connection, in most normal
cases, SHOULD be closed first by the server".
"""

from __future__ import annotations

from enum import Enum

from hub.codes import RfcCloseCode
from hub.wire.events import Close, Event, Failure, Ping
from hub.wire.frames import binary_frame, close_frame, ping_frame, pong_frame, text_frame
from hub.wire.parser import DEFAULT_MAX_MESSAGE_SIZE, FrameParser

__all__ = ["CLOSED", "CLOSING", "OPEN", "ConnectionState", "ServerConnection"]


class ConnectionState(Enum):
    """Where the closing handshake stands (§7)."""

    OPEN = "open"
    CLOSING = "closing"  # our close frame is sent; waiting for the peer's
    CLOSED = "closed"  # nothing more is read or sent: close the TCP connection


OPEN = ConnectionState.OPEN
CLOSING = ConnectionState.CLOSING
CLOSED = ConnectionState.CLOSED


class ServerConnection:
    """One client's connection: parses its frames, answers pings, runs the closing handshake.

    Attributes:
        state: see the module docstring.
        close_received: the peer's close frame, once received.
        close_sent: the code and reason of the close frame we sent (an echo, a failure or
            :meth:`send_close`), once sent.
    """

    __slots__ = ("_events", "_parser", "_writes", "close_received", "close_sent", "state")

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.state = OPEN
        self.close_received: Close | None = None
        self.close_sent: Close | None = None
        self._parser = FrameParser(max_message_size=max_message_size)
        self._events: list[Event] = []
        self._writes: list[bytes] = []

    def receive_data(self, data: bytes) -> None:
        """Take bytes read from the socket; then call :meth:`events_received` and :meth:`data_to_send`.

        Args:
            data: the bytes, split anywhere.
        """
        if self.state is CLOSED:
            return
        parser = self._parser
        events = parser.feed(data)
        if parser.control_seen or self.state is not OPEN:
            events = self._act_on(events)
        if not self._events:
            self._events = events
        elif events:
            self._events += events

    def receive_eof(self) -> None:
        """The peer closed its side of the TCP connection: nothing more will be read (§7.1.5 then gives 1006)."""
        self._parser.finished = True
        self.state = CLOSED

    def events_received(self) -> list[Event]:
        """The events parsed since the last call, in order. The last is the Close or Failure, if any.

        Returns:
            Messages, pings, pongs, the peer's close, or the failure that ended parsing.
        """
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """The frames to write since the last call (pongs, close frames, what ``send_*`` queued).

        Returns:
            Wire bytes, in order; write them before closing the transport.
        """
        writes, self._writes = self._writes, []
        return writes

    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (cheaper to ask than to call it per frame)."""
        return bool(self._writes)

    def send_text(self, payload: bytes) -> bool:
        """Queue a text frame. ``payload`` must already be UTF-8 (it is not checked: the hub builds it).

        Returns:
            False, and nothing is queued, unless the connection is OPEN (§5.5.1: no data after a close).
        """
        if self.state is not OPEN:
            return False
        self._writes.append(text_frame(payload))
        return True

    def send_binary(self, payload: bytes) -> bool:
        """Queue a binary frame.

        Returns:
            False, and nothing is queued, unless the connection is OPEN.
        """
        if self.state is not OPEN:
            return False
        self._writes.append(binary_frame(payload))
        return True

    def send_ping(self, payload: bytes = b"") -> bool:
        """Queue a ping frame (§5.5.2); the pong comes back as a :class:`~hub.wire.events.Pong` event.

        Returns:
            False, and nothing is queued, unless the connection is OPEN.

        Raises:
            ValueError: ``payload`` is longer than 125 bytes.
        """
        if self.state is not OPEN:
            return False
        self._writes.append(ping_frame(payload))
        return True

    def send_close(self, code: int = RfcCloseCode.NORMAL_CLOSURE, reason: str = "") -> bool:
        """Start the closing handshake (§7.1.2): send a close frame, then wait for the peer's.

        Until the peer's close arrives (state CLOSING) every other frame it sends is discarded.

        Args:
            code: a close code that may be sent (RFC codes, or 3000-4999 such as the hub's 44xx).
            reason: cut to 123 bytes of UTF-8.

        Returns:
            False, and nothing is sent, unless the connection is OPEN.

        Raises:
            ValueError: ``code`` may not be sent (1004-1006, 1015, outside 1000-4999...).
        """
        if self.state is not OPEN:
            return False
        self._send_close(code, reason)
        self.state = CLOSING
        return True

    def fail(self, code: int, reason: str = "") -> None:
        """_Fail the WebSocket Connection_ (§7.1.7): send a close frame if none was sent, stop reading.

        Args:
            code: the close code to send.
            reason: cut to 123 bytes of UTF-8.

        Raises:
            ValueError: ``code`` may not be sent.
        """
        if self.state is OPEN:
            self._send_close(code, reason)
        self._parser.finished = True  # §7.1.7: "MUST NOT continue to attempt to process data"
        self.state = CLOSED

    def _send_close(self, code: int | None, reason: str) -> None:
        self._writes.append(close_frame(code, reason))
        self.close_sent = Close(code, reason)

    def _act_on(self, events: list[Event]) -> list[Event]:
        """Answer pings, complete or fail the closing handshake; drop what arrives after our close."""
        kept: list[Event] = []
        for event in events:
            if isinstance(event, Close):
                self.close_received = event
                if self.state is OPEN:
                    # §5.5.1: "the endpoint MUST send a Close frame in response ... typically echos the status code".
                    self._send_close(event.code, event.reason)
                self.state = CLOSED
            elif isinstance(event, Failure):
                self.fail(event.code, event.reason)
            elif self.state is not OPEN:
                continue  # §1.4: after our close, only the peer's close still matters
            elif isinstance(event, Ping):
                self._writes.append(pong_frame(event.data))  # §5.5.2: "MUST send a Pong frame in response"
            kept.append(event)
        return kept
