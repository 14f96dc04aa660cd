"""A connection's HTTP side, until its 101: read the request, refuse it or pace it, hand it to the application.

The server's asyncio protocol feeds every byte that arrives before the 101 here. A request that is
malformed, too large or arrives while the node is overloaded is answered with an HTTP error and the
connection closed; a good one waits its turn with the :class:`~hub.server.pacer.UpgradePacer` (when the
process has one), then goes to the ASGI application through an :class:`~hub.server.asgi.AsgiBridge`.
"""

from __future__ import annotations

from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from hub.server.asgi import AsgiBridge, Upgraded
from hub.server.handshake import MAX_REQUEST_BYTES, Handshake
from hub.server.pacer import UpgradePacer

__all__ = ["CROWDED_STATE_KEY", "PACER_STATE_KEY", "Upgrade"]

CROWDED_STATE_KEY = "hub.crowded"
"""Lifespan state: a ``() -> bool`` saying the node takes no new socket now (the upgrade is answered 503)."""
PACER_STATE_KEY = "hub.upgrades"
"""Lifespan state: the process's :class:`~hub.server.pacer.UpgradePacer` (optional: without one, no pacing)."""

_RETRY_AFTER = ((b"Retry-After", b"1"),)
_OVERLOADED = b"node overloaded: retry shortly\n"


class Upgrade:
    """One connection's upgrade request; ``bridge`` is set once the application has it."""

    def __init__(self, protocol: Upgraded, config: Config, server_state: ServerState, app_state: dict[str, Any]):
        self._protocol = protocol
        self._config = config
        self._server_state = server_state
        self._app_state = app_state
        self._request = bytearray()
        self._handshake: Handshake | None = None  # the parsed request while it waits for its turn
        self._read = False
        self._pacer: UpgradePacer | None = None  # the pacer this upgrade waits with, then holds a slot of
        self.bridge: AsgiBridge | None = None

    def receive(self, data: bytes) -> None:
        """Bytes before the 101."""
        if self._read:
            return  # bytes after the request, before our answer: RFC 6455 §4.1 forbids them; ignored
        request = self._request
        request += data
        if b"\r\n\r\n" not in request:
            if len(request) > MAX_REQUEST_BYTES:
                self._protocol.write_and_close(Handshake(b"").refuse(431, b"request header fields too large\n"))
            return
        self._read = True
        handshake = Handshake(bytes(request))
        self._request = bytearray()
        refusal = handshake.valid()
        if refusal is not None:
            self._protocol.write_and_close(refusal)
            return
        crowded = self._app_state.get(CROWDED_STATE_KEY)
        if crowded is not None and crowded():  # cheaper here than a socket accepted, its hello read, closed 1013
            self._protocol.write_and_close(handshake.refuse(503, _OVERLOADED, _RETRY_AFTER))
            return
        pacer = self._app_state.get(PACER_STATE_KEY)
        if not isinstance(pacer, UpgradePacer):
            self._start(handshake)
            return
        self._pacer, self._handshake = pacer, handshake
        if not pacer.request(self):
            self._pacer = self._handshake = None
            self._protocol.write_and_close(handshake.refuse(503, _OVERLOADED, _RETRY_AFTER))

    def take_turn(self) -> bool:
        """The pacer's go-ahead (:mod:`hub.server.pacer`): the application gets the upgrade now."""
        handshake = self._handshake
        if handshake is None or self._protocol.lost:
            return False
        self._handshake = None
        self._start(handshake)
        return True

    def settled(self) -> None:
        """The socket stopped opening (the application took it over, or it ended): its slot is free; or it
        ended while still waiting for its turn, which then no longer counts."""
        pacer = self._pacer
        if pacer is None:
            return
        if self._handshake is None:
            self._pacer = None
            pacer.done()
        elif self._protocol.lost:
            self._pacer = self._handshake = None  # its turn, when it comes, is skipped
            pacer.withdrawn()

    def _start(self, handshake: Handshake) -> None:
        config = self._config
        self.bridge = AsgiBridge(self._protocol, handshake)
        self.bridge.start(config.loaded_app, self._app_state, self._server_state.tasks, config.root_path)
