"""Micro-benchmark: parsing client GPS frames with hub.wire against websockets' sans-I/O parser.

``python -m bench.wire_parse [--frames 100000] [--repeat 5]``

Feeds the same masked text frames (a distinct random masking key each, as browsers send
them) to :class:`hub.wire.FrameParser`, to :class:`hub.wire.ServerConnection`, and to
websockets' ``ServerProtocol`` (already OPEN), one frame per chunk (what a socket read
usually holds at this rate) and 16 frames per chunk, and prints frames/s and µs/frame.
Times are this process's CPU time (``time.process_time``), best of ``--repeat`` runs taken
in turns, GC on: the machine is shared, and CPU time is what "per core" means. Not a
test: it asserts only that every parser saw every frame.

websockets is measured as installed, with its C ``apply_mask`` if built; it returns raw
frames without assembling messages or checking UTF-8, which hub.wire does.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from collections.abc import Callable

import websockets
from websockets.frames import apply_mask
from websockets.protocol import State
from websockets.server import ServerProtocol

from hub.wire.connection import ServerConnection
from hub.wire.frames import Opcode
from hub.wire.mask import unmask
from hub.wire.parser import FrameParser

__all__ = ["main"]

#: The brief's GPS ping (70 bytes), and the same with the fields a driver app adds (~120 bytes).
PAYLOADS = {
    "gps-70B": b'{"type":"gps","lat":5.36,"lon":-4.01,"ts":1763700000.1,"accuracy":8.5}',
    "gps-120B": (
        b'{"type":"gps","lat":5.36012,"lon":-4.00837,"ts":1763700000.1,"accuracy":8.5,'
        b'"heading":271.5,"speed":11.25,"id":"g-000017"}'
    ),
}

Feed = Callable[[bytes], int]  # feeds one chunk, returns how many events it produced


def masked_text_frames(payload: bytes, count: int) -> list[bytes]:
    """``count`` client text frames of ``payload``, each with its own random masking key (§5.3)."""
    assert len(payload) < 126
    head = bytes((0x80 | Opcode.TEXT, 0x80 | len(payload)))
    frames = []
    for _ in range(count):
        key = os.urandom(4)
        frames.append(head + key + unmask(payload, key))
    return frames


def hub_parser() -> Feed:
    feed = FrameParser().feed
    return lambda chunk: len(feed(chunk))


def hub_connection() -> Feed:
    conn = ServerConnection()
    receive, events = conn.receive_data, conn.events_received

    def run(chunk: bytes) -> int:
        receive(chunk)
        return len(events())

    return run


def websockets_protocol() -> Feed:
    protocol = ServerProtocol(state=State.OPEN, max_size=2**20)
    receive, events = protocol.receive_data, protocol.events_received

    def run(chunk: bytes) -> int:
        receive(chunk)
        return len(events())

    return run


PARSERS: dict[str, Callable[[], Feed]] = {
    "hub.wire FrameParser.feed": hub_parser,
    "hub.wire ServerConnection": hub_connection,
    "websockets ServerProtocol": websockets_protocol,
}


def best_seconds(
    parsers: dict[str, Callable[[], Feed]], chunks: list[bytes], frames: int, repeat: int
) -> dict[str, float]:
    """Best CPU seconds per parser; runs alternate between parsers so that load changes hit all alike."""
    best = dict.fromkeys(parsers, float("inf"))
    for _ in range(repeat):
        for label, make in parsers.items():
            feed = make()
            seen = 0
            gc.collect()
            start = time.process_time()
            for chunk in chunks:
                seen += feed(chunk)
            best[label] = min(best[label], time.process_time() - start)
            assert seen == frames, f"{label} saw {seen} of {frames} frames"
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        f"python {platform.python_version()}, websockets {websockets.__version__} "
        f"(apply_mask from {apply_mask.__module__}), {args.frames} frames, CPU time, best of {args.repeat}"
    )
    print(f"{'payload':9} {'chunking':16} {'parser':27} {'frames/s':>10} {'µs/frame':>9} {'vs websockets':>13}")
    for name, payload in PAYLOADS.items():
        frames = masked_text_frames(payload, args.frames)
        for per_chunk in (1, 16):
            chunks = [b"".join(frames[i : i + per_chunk]) for i in range(0, len(frames), per_chunk)]
            timings = best_seconds(PARSERS, chunks, len(frames), args.repeat)
            reference = timings["websockets ServerProtocol"]
            for label, seconds in timings.items():
                chunking = f"{per_chunk} frame{'s' if per_chunk > 1 else ''}/chunk"
                print(
                    f"{name:9} {chunking:16} {label:27} {len(frames) / seconds:>10,.0f} "
                    f"{seconds / len(frames) * 1e6:>9.2f} {reference / seconds:>12.2f}x"
                )


if __name__ == "__main__":
    main()
