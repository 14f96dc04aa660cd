"""The trivial server that measures the client's own ceiling. ``python -m bench.peers.trivial --port N [--sink]``.

After the HTTP upgrade it writes pre-built ~200-byte text frames as fast as the socket
takes them (in blocks, pausing when the transport says so) and ignores what it reads.
The lean receiver's frames/s against it is the most any figure in the run could show.
With ``--sink`` it writes nothing after the upgrade and discards what it reads: the
ingest scenario's driver processes send to it to measure how many pings/s they can send.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
from typing import cast

import orjson
import uvloop

__all__ = ["FRAME", "main"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(rb"(?im)^sec-websocket-key:\s*(\S+)\s*$")
_PAYLOAD = orjson.dumps(
    {
        "type": "event",
        "topic": "notice:1",
        "seq": 1,
        "epoch": "trivial",
        "event": "notice.posted",
        "data": {"t": 0.0, "ticket": {"id": 4711, "number": 57, "status": "new", "total_cents": 1450}, "x": "y" * 24},
        "ts": 1763700000.123,
    }
)
FRAME = (
    bytes((0x81, len(_PAYLOAD))) if len(_PAYLOAD) < 126 else bytes((0x81, 126)) + len(_PAYLOAD).to_bytes(2, "big")
) + _PAYLOAD
_BLOCK = FRAME * 256
_BLOCKS_PER_TURN = 64  # then yield to the loop, so other connections get their turn


class Flood(asyncio.Protocol):
    def __init__(self, sink: bool = False) -> None:
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.upgraded = False
        self.flooding = False
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if self.flooding:
            return  # client frames (pongs, close) are ignored; the client closes the socket when done
        if self.upgraded:
            if self.sink:
                return  # read and dropped: the sender's frames/s is what is measured
            self.flooding = True
            self.pump()
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        match = _KEY.search(self.head)
        assert self.transport is not None
        if match is None:
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(match.group(1) + _GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.upgraded = True

    def pump(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for _ in range(_BLOCKS_PER_TURN):
            if self.paused:
                return
            transport.write(_BLOCK)
        asyncio.get_running_loop().call_soon(self.pump)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(port: int, sink: bool) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Flood(sink), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="trivial frame flooder (client ceiling) or sink (--sink)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink", action="store_true", help="read and discard instead of flooding")
    args = parser.parse_args()
    uvloop.run(_serve(int(args.port), bool(args.sink)))


if __name__ == "__main__":
    main()
