"""Log lines are written by a thread of their own through a bounded queue; what does not fit is counted."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from app.logs import QueuedLines, request_id_var


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


def test_lines_past_the_queue_are_dropped_counted_and_reported_once_the_writer_caught_up(
    pipe: tuple[int, int],
) -> None:
    read, write = pipe
    os.set_blocking(write, False)
    with contextlib.suppress(BlockingIOError):
        while True:  # fill the pipe: its reader has stopped, the writer thread blocks on its first line
            os.write(write, b"\n" * 4096)
    os.set_blocking(write, True)
    lines = QueuedLines(write, capacity=5)
    logger = logging.getLogger("test.log_lines")
    logger.propagate, logger.handlers[:] = False, [lines]
    logger.setLevel(logging.INFO)
    token = request_id_var.set("req-7")
    try:
        started = time.monotonic()
        for i in range(20):
            logger.info("line %d", i)
        assert time.monotonic() - started < 1.0  # returned at once although nothing could be written
    finally:
        request_id_var.reset(token)
        logger.handlers[:] = []
    assert lines.dropped >= 14  # five queued, one perhaps taken by the writer before it blocked
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(iter(lambda: os.read(read, 1 << 16), b"")))
    reader.start()  # the reader is back
    lines.close()  # writes what is queued
    os.close(write)
    reader.join(10)
    written = [orjson.loads(line) for line in b"".join(received).splitlines() if line]
    kept = [w for w in written if w["logger"] == "test.log_lines"]
    assert [w["msg"] for w in kept] == [f"line {i}" for i in range(len(kept))]
    assert all(w["request_id"] == "req-7" for w in kept)  # taken from the caller's context, not the thread's
    assert len(kept) + lines.dropped == 20
    notes = [w["msg"] for w in written if w["logger"] == "app.logs"]
    assert notes == [f"{lines.dropped} log lines dropped: standard error was not read fast enough"]


def test_a_process_whose_log_reader_stopped_still_exits_promptly(pipe: tuple[int, int]) -> None:
    """The writer thread may be stuck on a full pipe forever; the process must exit anyway, lines lost."""
    read, write = pipe
    script = "from app.logs import setup_logging; import logging; setup_logging('info')\n"
    script += "for i in range(3000): logging.getLogger('app').info('line %d ' + 'x' * 200, i)\n"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], stderr=write, timeout=30, check=False)
    assert done.returncode == 0
    assert time.monotonic() - started < 15  # about two seconds of waiting for the reader, then gone
