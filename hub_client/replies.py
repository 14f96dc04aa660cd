"""Commands waiting for their reply: a fresh ``id`` for each, the reply matched to it by the reader."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hub_client.errors import ConnectionLost
from hub_client.link import fail

__all__ = ["Replies"]


class Replies:
    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def expect(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """A fresh command id and the future its reply completes."""
        command_id = f"c{next(self._ids)}"
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = reply
        reply.add_done_callback(lambda _: self._pending.pop(command_id, None))
        return command_id, reply

    def received(self, frame: dict[str, Any]) -> None:
        """A frame from the hub: the reply of a waiting command when it echoes its id (events never are)."""
        reply = self._pending.get(str(frame.get("id")))
        if reply is not None and not reply.done() and frame.get("type") != "event":
            reply.set_result(frame)

    def lost(self, why: str) -> None:
        """The connection ended: every waiting command raises ``ConnectionLost``."""
        for reply in list(self._pending.values()):
            fail(reply, ConnectionLost(why))
