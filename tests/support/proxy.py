"""A TCP proxy in front of a test server, to make the network misbehave without touching the hub.

``cut()`` drops every connection at once (the client sees 1006), ``refuse`` turns new connections
away (a server that is down), ``pause()`` stops carrying the hub's bytes so its buffers fill (a slow
consumer: 4500), and ``target`` may be switched to another port (a restarted server).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

__all__ = ["Proxy", "proxy"]


class Proxy:
    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.refuse = False
        self.connections = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self._writers.add(down_w)
        try:
            if self.refuse:
                return
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # so that pause() backs up the hub quickly
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.target))
            except OSError:
                sock.close()
                return
            up_r, up_w = await asyncio.open_connection(sock=sock, limit=4096)
            self._writers.add(up_w)
            self.connections += 1
            await asyncio.gather(self._pipe(down_r, up_w, gated=False), self._pipe(up_r, down_w, gated=True))
        finally:
            for writer in (down_w, *([up_w] if "up_w" in locals() else [])):
                self._writers.discard(writer)
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, gated: bool) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                if gated:
                    await self._flowing.wait()
                chunk = await reader.read(4096)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
        writer.close()  # one side ended: end the other, after what is buffered (a close frame must get through)


@contextlib.asynccontextmanager
async def proxy(target: int) -> AsyncIterator[Proxy]:
    running = Proxy(target)

    def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(running._serve(reader, writer))
        running._links.add(task)
        task.add_done_callback(running._links.discard)

    server = await asyncio.start_server(start, "127.0.0.1", 0)
    running.port = server.sockets[0].getsockname()[1]
    try:
        yield running
    finally:
        server.close()
        running.resume()
        running.cut()
        for task in list(running._links):
            task.cancel()
        await asyncio.gather(*running._links, return_exceptions=True)
        await server.wait_closed()
