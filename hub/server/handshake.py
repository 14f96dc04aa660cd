"""The HTTP side of a WebSocket connection: the upgrade request, and the answer to it.

websockets' sans-I/O ``ServerProtocol`` parses and validates the request and builds the 101
(or the refusal); nothing of it outlives the handshake: frames are the hub's own
(:mod:`hub.wire`). No extension is negotiated, so server frames are plain and the bytes of
one event are the same for every subscriber.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

__all__ = ["MAX_REQUEST_BYTES", "Handshake"]

MAX_REQUEST_BYTES = 16_384
"""An upgrade request larger than this is refused (431) before it is parsed."""


class Handshake:
    """One upgrade request: parsed on construction; :meth:`accept` or :meth:`refuse` give the bytes to write."""

    def __init__(self, data: bytes) -> None:
        self._protocol = ServerProtocol(max_size=None)
        self._protocol.receive_data(data)
        events = self._protocol.events_received()
        self.request: Request | None = events[0] if events and isinstance(events[0], Request) else None
        self._response: Response | None = None

    def valid(self) -> bytes | None:
        """None when the request is a valid WebSocket upgrade, else the bytes of the error response."""
        if self.request is None:
            return self.refuse(HTTPStatus.BAD_REQUEST, b"malformed WebSocket upgrade request\n")
        response = self._protocol.accept(self.request)
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            return self._bytes(response)
        self._response = response
        return None

    def scope(self, server: Any, client: Any, scheme: str, root_path: str) -> dict[str, Any]:
        """The ASGI websocket scope of the request (``state`` and ``extensions`` are the caller's)."""
        assert self.request is not None
        raw_path, _, query = self.request.path.partition("?")
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": scheme,
            "server": server,
            "client": client,
            "root_path": root_path,
            "path": root_path + unquote(raw_path),
            "raw_path": root_path.encode("ascii") + raw_path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [(k.lower().encode("ascii"), v.encode("latin-1")) for k, v in self.request.headers.raw_items()],
            "subprotocols": _subprotocols(self.request.headers),
        }

    def accept(self, headers: Iterable[tuple[bytes, bytes]] = (), subprotocol: str | None = None) -> bytes:
        """The 101 response, with the application's extra headers."""
        response = self._response
        assert response is not None, "accept() after a valid() request only"
        for name, value in headers:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        if subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        return self._bytes(response)

    def refuse(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[bytes, bytes]] = (), *, content_type: str = ""
    ) -> bytes:
        """A plain HTTP response instead of the upgrade (the connection closes after it)."""
        values = Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers])
        values.setdefault("Date", email.utils.formatdate(usegmt=True))
        values.setdefault("Connection", "close")
        values.setdefault("Content-Length", str(len(body)))
        values.setdefault("Content-Type", content_type or "text/plain; charset=utf-8")
        return self._bytes(Response(status, _phrase(status), values, body))

    def _bytes(self, response: Response) -> bytes:
        self._protocol.send_response(response)
        return b"".join(self._protocol.data_to_send())


def _subprotocols(headers: Headers) -> list[str]:
    found: list[str] = []
    for header in headers.get_all("Sec-WebSocket-Protocol"):
        found.extend(token.strip() for token in header.split(",") if token.strip())
    return found


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
