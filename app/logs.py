"""JSON log lines with the request id (HTTP) or connection id (WebSocket) on every line.

Lines are formatted where they are logged but written by a thread of their own: a write to standard
error blocks when whatever reads it (a terminal, journald, a container runtime) falls behind, and on
the event loop that would stall every socket of the node, for as long as the reader stays behind. The
queue between them is bounded; when it is full a line is dropped and counted, and the writer says how
many were lost once it has caught up.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import queue
import sys
import threading
import time

import orjson

__all__ = ["JsonFormatter", "QueuedLines", "request_id_var", "setup_logging"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_STOP_S = 2.0  # at exit, how long the writer may take to write what is queued


class QueuedLines(logging.Handler):
    """Formats each record on the caller's thread (the request id lives in its context) and hands the line to
    a writer thread through a bounded queue; a full queue drops the line and counts it.

    The writer writes to the file descriptor itself, holding no lock of the logging module: a write stuck on a
    reader that stopped blocks that thread alone, and the process still exits (``logging.shutdown`` at exit
    takes every handler's lock)."""

    def __init__(self, fd: int, *, capacity: int = 10_000) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.dropped = 0
        self._fd = fd
        self._lines: queue.Queue[str | None] = queue.Queue(capacity)
        self._writer: threading.Thread | None = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self._lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1  # emit runs under the handler's lock: no lost count

    def close(self) -> None:
        """Writes what is queued, waiting at most a couple of seconds for a reader that stopped (at exit; again
        is harmless); whatever is still queued then is lost with the process."""
        atexit.unregister(self.close)
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(queue.Full):
                self._lines.put(None, timeout=_STOP_S)
                writer.join(_STOP_S)
        super().close()

    def _write(self) -> None:
        reported = 0
        while (line := self._lines.get()) is not None:
            self._put(line)
            if self.dropped > reported and self._lines.empty():  # caught up: say once how many were lost
                reported = self._report(reported)
        if self.dropped > reported:  # stopping: what was lost since
            self._report(reported)

    def _report(self, reported: int) -> int:
        """Writes how many lines were dropped since ``reported`` were; returns the new total reported."""
        seen = self.dropped
        why = "%d log lines dropped: standard error was not read fast enough"
        note = logging.LogRecord("app.logs", logging.WARNING, __file__, 0, why, (seen - reported,), None)
        self._put(self.format(note))
        return seen

    def _put(self, line: str) -> None:
        data = memoryview((line + "\n").encode())
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            pass  # standard error closed: nowhere left to log


def setup_logging(level: str = "info") -> None:
    """Route our loggers and uvicorn's through one JSON handler on stderr, written by its own thread."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(isinstance(h, QueuedLines) for h in root.handlers):  # serve and its app factory both call this
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor (a test's capture)
            fd = 2
        root.handlers[:] = [QueuedLines(fd)]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # our middleware logs requests
