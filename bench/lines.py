"""The command loop of a client process: JSON lines on stdin, one JSON reply line per command on stdout.

The same protocol as :mod:`bench.worker` (``{"op": …}`` in, ``{"ok": true, …}`` or ``{"ok": false, "error": …}``
out, ``exit`` or EOF ends it), so :class:`bench.pool.WorkerHandle` drives any of these processes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

__all__ = ["Handler", "serve_lines"]

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def serve_lines(handlers: Mapping[str, Handler], on_exit: Callable[[], Awaitable[object]]) -> None:
    """Answer commands until ``exit`` or until the orchestrator closes our stdin; then ``on_exit``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    try:
        while True:
            line = await reader.readline()
            if not line:  # the orchestrator is gone
                break
            cmd: dict[str, Any] = orjson.loads(line)
            if cmd["op"] == "exit":
                break
            try:
                reply = {"ok": True, **await handlers[cmd["op"]](cmd)}
            except Exception as exc:  # reported to the orchestrator, which fails the scenario with this message
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            out.write(orjson.dumps(reply) + b"\n")
            out.flush()
    finally:
        await on_exit()
