"""What a connection does with each frame before running it: decode, count, rate-limit.

Sans-I/O: no socket and no task. Errors the peer should see go back through ``reply_error``; the rules that end
the connection (the 21st invalid frame in a row, sustained rate-limit abuse, a first frame that is no hello)
raise :class:`~hub.errors.CloseConnection` for the connection to act on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hub.codes import CloseCode, ErrorCode
from hub.connection_kit import ConnectionKit
from hub.errors import CloseConnection, ProtocolError
from hub.protocol import frames
from hub.protocol.commands import Command, CommandId, Hello
from hub.protocol.session import RateDecision, RateLimiter, Session

__all__ = ["Intake", "ReplyError"]

ReplyError = Callable[[ErrorCode, str, CommandId], None]


class Intake:
    """One connection's frame intake: its session state (invalid-frame run, open or not) and its rate limit."""

    def __init__(self, kit: ConnectionKit, reply_error: ReplyError) -> None:
        cfg = kit.config
        self.session = Session(max_invalid_frames=cfg.max_invalid_frames)
        self._limiter = RateLimiter(cfg.commands_per_s, cfg.abuse_factor)
        self._kit = kit
        self._reply_error = reply_error

    def hello(self, data: str | bytes) -> Hello:
        """The first frame, which must be a hello.

        Raises:
            CloseConnection: 4400 (protocol violation) for anything else, after a ``bad_request`` error frame.
        """
        bad = CloseCode.PROTOCOL_VIOLATION
        if isinstance(data, bytes):
            self._count("invalid")
            raise CloseConnection(bad, "first frame must be a JSON hello", error=ErrorCode.BAD_REQUEST)
        table = self._kit.commands
        try:
            command = table.decode(data, now=time.time())
        except ProtocolError as exc:
            self._count("invalid")
            raise CloseConnection(bad, exc.message, error=ErrorCode.BAD_REQUEST, command_id=exc.command_id) from None
        self._count(table.label(command))
        if not isinstance(command, Hello):
            raise CloseConnection(
                bad, "first frame must be a hello", error=ErrorCode.BAD_REQUEST, command_id=command.id
            )
        return command

    def accept(self, data: str | bytes, text: bool) -> Command | None:
        """Decode, count and rate-limit one frame; None when it gets an error instead of a run.

        Raises:
            CloseConnection: 4400 after too many invalid frames, 4429 on sustained abuse.
        """
        now = time.time()
        table = self._kit.commands
        try:
            if not text:
                raise frames.binary_frame_error()
            command = table.decode(data, now=now)
        except ProtocolError as exc:
            self._count("invalid")
            self._reply_error(exc.code, exc.message, exc.command_id)
            self.session.invalid_frame()  # protocol.md §2.5: the 21st invalid frame in a row closes 4400
            return None
        self.session.valid_frame()
        self._count(table.label(command))
        if table.counted(command) and not self._within_rate(now, command):
            return None
        return command

    def _count(self, label: str) -> None:
        received = self._kit.stats.received  # folded into hub_frames_received_total each second
        received[label] = received.get(label, 0) + 1

    def _within_rate(self, now: float, command: Command) -> bool:
        decision = self._limiter.check(now)  # raises CloseConnection 4429 on sustained abuse
        if decision is RateDecision.ALLOW:
            return True
        self._kit.metrics.dropped_frames.labels("rate_limit").inc()
        if decision is RateDecision.REJECT:
            limit = self._kit.config.commands_per_s
            self._reply_error(ErrorCode.RATE_LIMITED, f"over {limit:g} commands per second", command.id)
        return False
