"""hub.wire over real sockets: the real websockets client against a tiny server built on ServerConnection.

The server uses websockets' sans-I/O ``ServerProtocol`` for the HTTP upgrade only; every
frame after it goes through :class:`hub.wire.ServerConnection`. It echoes messages and
obeys a few text commands ("close <code> <reason>", "ping me"). Nothing sleeps: every
wait is on an event, under a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from hub.codes import CloseCode, RfcCloseCode
from hub.wire.connection import CLOSED, ServerConnection
from hub.wire.events import BinaryMessage, Close, Event, Failure, Pong, TextMessage
from hub.wire.frames import Opcode
from tests.support.clientframes import client_frame
from tests.support.timing import MS

TIMEOUT = 5000 * MS
MAX_MESSAGE = 1024


class WireServer(asyncio.Protocol):
    """One accepted connection: websockets for the handshake, hub.wire for the frames."""

    def __init__(self) -> None:
        self.handshake = ServerProtocol()  # no extensions offered: the client will not compress
        self.conn: ServerConnection | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.conn is None:
            self._handshake(data)
            return
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            self.events.put_nowait(event)
            if isinstance(event, TextMessage):
                self._command(event)
            elif isinstance(event, BinaryMessage):
                self.conn.send_binary(event.data)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.receive_eof()
        self.lost.set_result(None)

    def _handshake(self, data: bytes) -> None:
        self.handshake.receive_data(data)
        for request in self.handshake.events_received():
            self.handshake.send_response(self.handshake.accept(request))
        self.transport.writelines(self.handshake.data_to_send())
        if self.handshake.state is State.OPEN:
            assert not self.handshake.events_received(), "the client sent frames before the 101"
            self.conn = ServerConnection(max_message_size=MAX_MESSAGE)

    def _command(self, message: TextMessage) -> None:
        assert self.conn is not None
        verb, _, rest = message.text.partition(" ")
        if verb in ("close", "fail"):
            code, _, reason = rest.partition(" ")
            if verb == "close":
                self.conn.send_close(int(code), reason)  # then wait for the client's close
            else:
                self.conn.fail(int(code), reason)  # close the TCP connection at once
        elif verb == "ping":
            self.conn.send_ping(b"from server")
        else:
            self.conn.send_text(message.data)

    def _flush(self) -> None:
        assert self.conn is not None
        self.transport.writelines(self.conn.data_to_send())
        if self.conn.state is CLOSED:
            self.transport.close()  # §7.1.1: the server closes the TCP connection first

    async def next_event(self) -> Event:
        async with asyncio.timeout(TIMEOUT):
            return await self.events.get()


class Harness:
    def __init__(self, port: int, accepted: asyncio.Queue[WireServer]) -> None:
        self.url = f"ws://127.0.0.1:{port}/"
        self.port = port
        self.accepted = accepted

    async def server_side(self) -> WireServer:
        async with asyncio.timeout(TIMEOUT):
            return await self.accepted.get()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    accepted: asyncio.Queue[WireServer] = asyncio.Queue()
    protocols: list[WireServer] = []

    def factory() -> WireServer:
        protocol = WireServer()
        protocols.append(protocol)
        accepted.put_nowait(protocol)
        return protocol

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    yield Harness(server.sockets[0].getsockname()[1], accepted)
    server.close()
    for protocol in protocols:
        protocol.transport.abort()
    await server.wait_closed()


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    async with asyncio.timeout(TIMEOUT):
        await ws.wait_closed()
    return ws.close_code, ws.close_reason


async def test_echo_text_binary_and_fragments(harness: Harness) -> None:
    async with connect(harness.url) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"
        await ws.send(["frag", "ment", "é"])  # websockets sends an iterable as fragments
        assert await ws.recv() == "fragmenté"
        await ws.send([b"\x01", b"", b"\x02"])
        assert await ws.recv() == b"\x01\x02"
        await ws.send("x" * MAX_MESSAGE)
        assert await ws.recv() == "x" * MAX_MESSAGE
    server = await harness.server_side()
    async with asyncio.timeout(TIMEOUT):
        await server.lost
    assert server.conn is not None and server.conn.close_received == Close(RfcCloseCode.NORMAL_CLOSURE, "")


async def test_ping_both_ways(harness: Harness) -> None:
    async with connect(harness.url, ping_interval=None) as ws:
        server = await harness.server_side()
        async with asyncio.timeout(TIMEOUT):
            await (await ws.ping(b"from client"))  # our automatic pong resolves it
        await ws.send("ping me")
        event = await server.next_event()
        while not isinstance(event, Pong):
            event = await server.next_event()
        assert event == Pong(b"from server")  # websockets answered our ping


@pytest.mark.parametrize("verb", ["close", "fail"])
@pytest.mark.parametrize(
    "code",
    [RfcCloseCode.NORMAL_CLOSURE, RfcCloseCode.INVALID_DATA, *CloseCode],
    ids=lambda code: str(int(code)),
)
async def test_the_client_sees_each_close_code_and_reason(harness: Harness, code: int, verb: str) -> None:
    reason = f"reason for {int(code)} é"
    async with connect(harness.url) as ws:
        await ws.send(f"{verb} {int(code)} {reason}")
        assert await closed(ws) == (code, reason)
    server = await harness.server_side()
    async with asyncio.timeout(TIMEOUT):
        await server.lost
    assert server.conn is not None and server.conn.state is CLOSED
    assert server.conn.close_sent == Close(code, reason)
    if verb == "close":
        assert server.conn.close_received == Close(code, reason)  # websockets echoed our close


@pytest.mark.parametrize("fragments", [1, 3])
async def test_an_oversized_message_closes_1009(harness: Harness, fragments: int) -> None:
    async with connect(harness.url) as ws:
        size = MAX_MESSAGE // fragments + 1
        await ws.send("y" * size if fragments == 1 else ["y" * size] * fragments)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == RfcCloseCode.MESSAGE_TOO_BIG
        assert ws.close_code == RfcCloseCode.MESSAGE_TOO_BIG
    server = await harness.server_side()
    event = await server.next_event()
    assert isinstance(event, Failure) and event.code == RfcCloseCode.MESSAGE_TOO_BIG


async def raw_exchange(harness: Harness, frames: bytes) -> ClientProtocol:
    """Handshake with websockets' sans-I/O client, write ``frames`` as they are, read until EOF."""
    client = ClientProtocol(parse_uri(harness.url))
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", harness.port)
        client.send_request(client.connect())
        writer.writelines(client.data_to_send())
        while client.state is State.CONNECTING:
            client.receive_data(await reader.read(4096))
        assert client.handshake_exc is None
        writer.write(frames)
        client.receive_data(await reader.read())  # the server closes after failing
        client.receive_eof()
    writer.close()
    return client


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (client_frame(Opcode.TEXT, b"caf\xc3"), RfcCloseCode.INVALID_DATA),
        (client_frame(Opcode.TEXT, b"ok", fin=False) + client_frame(Opcode.CONT, b"\xff"), RfcCloseCode.INVALID_DATA),
        (client_frame(Opcode.TEXT, b"plain", masked=False), RfcCloseCode.PROTOCOL_ERROR),
        (client_frame(Opcode.TEXT, b"x", rsv=4), RfcCloseCode.PROTOCOL_ERROR),
    ],
    ids=["truncated UTF-8", "invalid UTF-8 fragment", "unmasked", "RSV1"],
)
async def test_raw_protocol_violations(harness: Harness, frames: bytes, code: RfcCloseCode) -> None:
    client = await raw_exchange(harness, client_frame(Opcode.TEXT, b"before") + frames)
    assert client.close_rcvd is not None and client.close_rcvd.code == code
    assert client.close_rcvd.reason  # a few words on what was wrong
    server = await harness.server_side()
    assert await server.next_event() == TextMessage(b"before")  # what came before the fault still counts
    failure = await server.next_event()
    assert isinstance(failure, Failure) and (failure.code, failure.reason) == (code, client.close_rcvd.reason)
