"""Incremental parser of client-to-server frames (RFC 6455 §5), sans-I/O.

:meth:`FrameParser.feed` takes whatever bytes the socket produced — split anywhere, even
inside a header or a masking key, or several frames at once — and returns the messages
and control frames they complete, in order. It never raises on peer input: every
violation becomes a :class:`~hub.wire.events.Failure` carrying the close code to fail the
connection with (§7.1.7), after which the parser ignores all input. A
:class:`~hub.wire.events.Close` is also final: §1.4, "after receiving a control frame
indicating the connection should be closed, a peer discards any further data received".

Checks run in the order their bytes arrive (first two header bytes, then the extended
length, then the payload), so how the stream was split never changes the outcome.

Decided where the RFC leaves room (tests/unit/test_wire_properties.py lists where
websockets decides otherwise):

- §5.2 asks for the minimal length encoding. A data frame with a longer form than needed
  is accepted (as websockets does; it costs nothing to be lenient), but a control frame
  must use the 7-bit form, so a control frame whose 7-bit field reads 126 or 127 fails
  1002 at once instead of waiting for an extended length.
- The size limit (1009) counts message payload, all fragments together; control frames
  are bounded by §5.5 (125 bytes) instead.
- §5.4 allows control frames between fragments, a close among them: the close is
  reported and the unfinished message dropped (websockets fails such a stream 1002).
- A close frame's code is checked before its reason's UTF-8 (the order on the wire).

Speed (the hub ingests ~100k GPS frames/s per core): a chunk holding whole frames is
parsed in place, only a frame straddling chunks is buffered; header fields are read by
indexing; payloads are unmasked with one integer XOR (:mod:`hub.wire.mask`); ASCII text —
nearly all JSON — is proven UTF-8 by ``bytes.isascii`` without decoding.
"""

from __future__ import annotations

import codecs
import struct
from typing import Final

from hub.codes import RfcCloseCode
from hub.wire.events import BinaryMessage, Close, Event, Failure, Ping, Pong, TextMessage
from hub.wire.frames import MAX_CONTROL_PAYLOAD, Opcode, is_valid_close_code
from hub.wire.mask import KEEP, REPEAT, SMALL, unmask

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "FrameParser"]

#: Default cap on one message, all fragments together (websockets and uvicorn default to 1 MiB too).
DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 20

_CONT: Final = int(Opcode.CONT)
_TEXT: Final = int(Opcode.TEXT)
_BINARY: Final = int(Opcode.BINARY)
_CLOSE: Final = int(Opcode.CLOSE)
_PING: Final = int(Opcode.PING)
_PONG: Final = int(Opcode.PONG)
_PROTOCOL_ERROR: Final = RfcCloseCode.PROTOCOL_ERROR
_INVALID_DATA: Final = RfcCloseCode.INVALID_DATA
_TOO_BIG: Final = RfcCloseCode.MESSAGE_TOO_BIG

_key_at = struct.Struct("<I").unpack_from  # the masking key as a little-endian int, like the payload
_u64_at = struct.Struct("!Q").unpack_from
_from_bytes = int.from_bytes
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class FrameParser:
    """Turns the client's byte stream into events; one instance per connection, not thread-safe.

    Attributes:
        max_message_size: largest message accepted, summed over its fragments (§10.4); more fails 1009.
        finished: a Close or a Failure was returned; everything fed from then on is ignored.
        control_seen: the last :meth:`feed` returned a Ping, Close or Failure — events the
            connection must act on — so a feed of data messages alone needs no second look.
    """

    __slots__ = ("_buf", "_decoder", "_frag_op", "_parts", "_size", "control_seen", "finished", "max_message_size")

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self.finished = False
        self.control_seen = False
        self._buf = bytearray()  # the start of a frame that straddles chunks; usually empty
        self._frag_op = 0  # opcode of the fragmented message being received (§5.4), 0 if none
        self._parts: list[bytes] = []
        self._size = 0  # bytes received so far of that message
        self._decoder: codecs.IncrementalDecoder | None = None  # validates fragmented text as it comes

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``, the next bytes of the stream, with whatever was left over before.

        Args:
            data: bytes as read from the socket.

        Returns:
            The events completed by these bytes, in stream order; at most one Close or
            Failure, always last. Empty once :attr:`finished`.
        """
        events: list[Event] = []
        self.control_seen = False
        if self.finished:
            return events
        buf = self._buf
        b: bytes | bytearray = data
        if buf:
            buf += data
            b = buf
        end = len(b)
        i = 0
        limit = self.max_message_size
        while end - i >= 2:
            b0 = b[i]
            b1 = b[i + 1]
            # 0x81: FIN + text, RSV clear; 0x80-0xFD: MASK + a 7-bit length. Literals, not names: no global lookups.
            if b0 == 0x81 and 0x80 <= b1 < 0xFE and not self._frag_op:
                # The hot case: a whole masked text frame with a 7-bit length (every GPS ping). The
                # general path below reaches the same result; this one skips the checks that cannot fail.
                n = b1 & 0x7F
                if n > limit:
                    return self._fail(events, _TOO_BIG, f"message over {limit} bytes")
                start = i + 6
                stop = start + n
                if stop > end:
                    break
                repeated_key = _key_at(b, i + 2)[0] * REPEAT[n] & KEEP[n]  # §5.3, see hub.wire.mask
                payload = (_from_bytes(b[start:stop], "little") ^ repeated_key).to_bytes(n, "little")
                i = stop
                # §8.1: text must be UTF-8; ASCII always is, and isascii() is far cheaper than decode().
                if not payload.isascii():
                    try:
                        payload.decode()
                    except UnicodeDecodeError:
                        return self._fail(events, _INVALID_DATA, "text message is not valid UTF-8")
                events.append(TextMessage(payload))
                continue
            n = b1 & 0x7F
            problem = self._header_problem(b0, n)
            if problem is not None:
                return self._fail(events, _PROTOCOL_ERROR, problem)
            # §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
            if b1 < 0x80:
                return self._fail(events, _PROTOCOL_ERROR, "frame not masked")
            if n < 126:
                start = i + 6
            elif n == 126:
                if end - i < 4:
                    break
                n = (b[i + 2] << 8) | b[i + 3]
                start = i + 8
            else:
                if end - i < 10:
                    break
                (n,) = _u64_at(b, i + 2)
                if n >> 63:  # §5.2: "the most significant bit MUST be 0"
                    return self._fail(events, _PROTOCOL_ERROR, "64-bit length with its top bit set")
                start = i + 14
            # §10.4: refuse on the announced length, before buffering any of it.
            if b0 & 0x0F < _CLOSE and n + self._size > limit:
                return self._fail(events, _TOO_BIG, f"message over {limit} bytes")
            stop = start + n
            if stop > end:
                break
            if n <= SMALL:
                repeated_key = _key_at(b, start - 4)[0] * REPEAT[n] & KEEP[n]
                payload = (_from_bytes(b[start:stop], "little") ^ repeated_key).to_bytes(n, "little")
            else:
                payload = unmask(b[start:stop], b[start - 4 : start])
            i = stop
            event = self._frame(b0, payload)
            if event is not None:
                events.append(event)
                if type(event) is Failure or type(event) is Close:
                    self.finished = True
                    self._reset(buf)
                    self.control_seen = True
                    return events
        if i:
            if b is buf:
                del buf[:i]  # O(1) in CPython: a bytearray drops a prefix by moving its start
            elif i < end:
                buf += memoryview(data)[i:]
        elif b is not buf:
            buf += data
        return events

    def _header_problem(self, b0: int, n: int) -> str | None:
        """What is wrong with a frame's first byte (and 7-bit length) on its own, or None (§5.2, §5.4, §5.5)."""
        if b0 & 0x70:  # §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated" — the hub negotiates none.
            return "reserved bits set"
        op = b0 & 0x0F
        if op == _TEXT or op == _BINARY:
            # §5.4: "fragments of one message MUST NOT be interleaved between fragments of another".
            return "expected a continuation frame" if self._frag_op else None
        if op == _CONT:
            return None if self._frag_op else "continuation frame without a message to continue"
        if op == _CLOSE or op == _PING or op == _PONG:
            # §5.5: "Control frames ... MUST NOT be fragmented" and carry at most 125 bytes.
            if b0 < 0x80:
                return "fragmented control frame"
            return "control frame too long" if n > MAX_CONTROL_PAYLOAD else None
        return f"reserved opcode {op:#x}"  # §5.2: "the receiving endpoint MUST _Fail_"

    def _frame(self, b0: int, payload: bytes) -> Event | None:
        """The event one checked, unmasked frame completes (other than a whole text frame), or None."""
        op = b0 & 0x0F
        if op == _PING:
            self.control_seen = True
            return Ping(payload)
        if op == _PONG:
            return Pong(payload)
        if op == _CLOSE:
            return _parse_close(payload)
        fin = b0 & 0x80
        if op == _BINARY and fin:
            return BinaryMessage(payload)
        if op != _CONT:  # the first fragment of a message (§5.4)
            self._frag_op = op
            self._parts = []
            self._decoder = _utf8_decoder() if op == _TEXT else None
        self._parts.append(payload)
        self._size += len(payload)
        if self._decoder is not None:
            try:  # §8.1 checked per fragment, so bad text fails before the rest of it arrives
                self._decoder.decode(payload, bool(fin))
            except UnicodeDecodeError:
                return Failure(_INVALID_DATA, "text message is not valid UTF-8")
        if not fin:
            return None
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        is_text = self._frag_op == _TEXT
        self._reset(None)
        return TextMessage(data) if is_text else BinaryMessage(data)

    def _fail(self, events: list[Event], code: RfcCloseCode, reason: str) -> list[Event]:
        events.append(Failure(code, reason))
        self.finished = True
        self.control_seen = True
        self._reset(self._buf)
        return events

    def _reset(self, buf: bytearray | None) -> None:
        """Forget the message in progress (and the buffer, once parsing has ended)."""
        self._frag_op = 0
        self._parts = []
        self._size = 0
        self._decoder = None
        if buf is not None:
            buf.clear()


def _parse_close(payload: bytes) -> Close | Failure:
    """§5.5.1: an empty close payload, or a 2-byte code then a UTF-8 reason."""
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        return Failure(_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):  # §7.4: 1004-1006, 1015, < 1000, 1016-2999, >= 5000
        return Failure(_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        return Failure(_INVALID_DATA, "close reason is not valid UTF-8")
    return Close(code, reason)
