"""A real uvicorn server running the real app on a free port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from app.main import create_app
from app.serving import uvicorn_options
from app.settings import Settings
from tests.support.asyncapi import check_frame
from tests.support.timing import MS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    settings: Settings
    port: int
    server: uvicorn.Server

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.http, headers=headers, timeout=10.0)

    async def login(self, username: str, password: str = "password") -> dict[str, Any]:
        async with self.client() as http:
            response = await http.post("/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def token(self, username: str) -> str:
        return str((await self.login(username))["access_token"])

    async def connect_raw(self, token: str) -> ClientConnection:
        """Open a socket and send hello without waiting for its answer (a refusal is read with ``closed_with``)."""
        ws = await websockets.connect(self.ws_url, max_size=None)
        await ws.send(orjson.dumps({"type": "hello", "id": "hello", "token": token}).decode())
        return ws

    async def connect(self, token: str, *, device: dict[str, Any] | None = None, **kw: Any) -> ClientConnection:
        """Open a socket and complete hello/welcome."""
        ws, _ = await self.welcomed(token, device=device, **kw)
        return ws

    async def welcomed(
        self, token: str, *, device: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[ClientConnection, dict[str, Any]]:
        """Open a socket, complete hello and return it with its ``welcome`` (which names the node that took it)."""
        ws = await websockets.connect(self.ws_url, max_size=None, **kw)
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if device is not None:
            hello["device"] = device
        await ws.send(orjson.dumps(hello).decode())
        welcome = await recv(ws)
        assert welcome["type"] == "welcome", welcome
        return ws, welcome

    async def as_user(self, username: str, **kw: Any) -> ClientConnection:
        return await self.connect(await self.token(username), **kw)


async def recv(ws: ClientConnection, timeout: float = 3000 * MS) -> dict[str, Any]:
    """The next frame, checked against the AsyncAPI document (every e2e test reads through here)."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame: dict[str, Any] = orjson.loads(raw)
    check_frame(frame)
    return frame


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


async def command(ws: ClientConnection, frame: dict[str, Any], timeout: float = 3000 * MS) -> dict[str, Any]:
    """Send a command and return the first frame that echoes its id (events in between are skipped)."""
    await send(ws, frame)
    while True:
        reply = await recv(ws, timeout)
        if reply.get("id") == frame.get("id") and reply["type"] != "event":
            return reply


async def closed_with(ws: ClientConnection, timeout: float = 3000 * MS) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes; returns its close code and the frames received before."""
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                frame = orjson.loads(await ws.recv())
                check_frame(frame)
                frames.append(frame)
    assert ws.close_code is not None or ws.protocol.close_rcvd is not None, "connection still open"
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code if rcvd is not None else None), frames


class _Overruns(logging.Handler):
    """Shutdown steps of test servers that overran (app.shutdown): a stop that would have hung. They no longer
    fail the test (the step is left behind), so the run lists them at its end, green or red (tests/conftest.py):
    the one trace of a close that hangs once in a while, with the line it hung on."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"{os.environ.get('PYTEST_CURRENT_TEST', '?')}: {record.getMessage()}")


OVERRUNS = _Overruns()


@contextlib.asynccontextmanager
async def run_server(
    settings: Settings, *, plain_asgi: bool = False, port: int | None = None
) -> AsyncIterator[RunningServer]:
    """``plain_asgi`` serves with uvicorn's stock websocket protocol: the hub's portable path, no fast path.
    ``port`` (default: a free one) lets a test restart a server where its clients expect it."""
    port = port or free_port()
    settings = replace(settings, port=port)
    ws_options = uvicorn_options(settings)
    if plain_asgi:
        ws_options["ws"] = "websockets-sansio"
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        **ws_options,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # pytest owns signals
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 10
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("server did not start in 10 s")
        await asyncio.sleep(5 * MS)
    try:
        yield RunningServer(settings, port, server)
    finally:
        server.should_exit = True
        watch = logging.getLogger("app.shutdown")
        watch.addHandler(OVERRUNS)
        try:
            done, _ = await asyncio.wait({task}, timeout=30)
        finally:
            watch.removeHandler(OVERRUNS)
        if not done:  # say where the stop is stuck: the failure alone does not
            for stuck in asyncio.all_tasks():
                stuck.print_stack(file=sys.stderr)
            raise TimeoutError("the server did not stop in 30 s; every task's stack is on stderr")
        task.result()
