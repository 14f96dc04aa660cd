"""Log lines are written by a thread of their own through a bounded queue; what does not fit is counted."""

from __future__ import annotations

import io
import logging
import threading

import orjson

from app.logs import QueuedLines, request_id_var


class _GatedStream(logging.StreamHandler[io.StringIO]):
    """A stream whose reader has stopped until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.gate = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait()
        super().emit(record)


def test_lines_past_the_queue_are_dropped_counted_and_reported_once_the_reader_is_back() -> None:
    stream = _GatedStream()
    stream.setFormatter(logging.Formatter("%(message)s"))
    lines = QueuedLines(stream, capacity=5)
    logger = logging.getLogger("test.log_lines")
    logger.propagate, logger.handlers[:] = False, [lines]
    logger.setLevel(logging.INFO)
    try:
        token = request_id_var.set("req-7")
        for i in range(20):  # returns at once although nothing is written: the loop never waits on the reader
            logger.info("line %d", i)
        request_id_var.reset(token)
        assert lines.dropped >= 14  # five queued, one perhaps taken by the writer before it blocked
        stream.gate.set()
        lines.close()  # writes what is queued
        written = [orjson.loads(line) for line in stream.stream.getvalue().splitlines()]
        kept = [w for w in written if w["logger"] == "test.log_lines"]
        assert [w["msg"] for w in kept] == [f"line {i}" for i in range(len(kept))]
        assert all(w["request_id"] == "req-7" for w in kept)  # taken from the caller's context, not the thread's
        assert len(kept) + lines.dropped == 20
        notes = [w for w in written if w["logger"] == "app.logs"]
        why = f"{lines.dropped} log lines dropped: standard error was not read fast enough"
        assert [w["msg"] for w in notes] == [why]
    finally:
        logger.handlers[:] = []
        lines.close()
