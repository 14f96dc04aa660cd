"""The HTTP side of a WebSocket connection: the upgrade request (RFC 6455 §4.2), and the answer to it.

Sans-I/O and our own: in a reconnect storm every tablet upgrades at once, and websockets'
general-purpose ``ServerProtocol`` (a generator-driven HTTP parser, a ``Headers`` multidict, a
``Response`` object per answer) cost a tenth of the node's CPU there. The request reaching us was
already parsed and re-serialized by uvicorn's HTTP protocol, so a strict, flat parser is enough:
request line, header lines, nothing else. Anything it does not understand is a 400.

No extension is negotiated, so server frames are plain and the bytes of one event are the same
for every subscriber. Nothing of the handshake outlives the 101: frames are :mod:`hub.wire`'s.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

__all__ = ["MAX_HEADERS", "MAX_REQUEST_BYTES", "Handshake", "accept_key"]

MAX_REQUEST_BYTES = 16_384
"""An upgrade request larger than this is refused (431) before it is parsed."""

MAX_HEADERS = 128
"""More header lines than this is a malformed request (400)."""

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_PROTOCOL = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")  # RFC 9110 §7.8
_TARGET = re.compile(rb"/[\x21-\x7e]*")  # origin-form, visible ASCII
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")  # field-value: no control character but tab


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


class Handshake:
    """One upgrade request: parsed on construction; :meth:`accept` or :meth:`refuse` give the bytes to write.

    ``path`` and ``headers`` (names lowercased, in order) are set when the request parsed, else
    ``path`` is None and :meth:`valid` answers 400.
    """

    def __init__(self, data: bytes) -> None:
        self.path: str | None = None
        self.headers: list[tuple[str, str]] = []
        self._by_name: dict[str, list[str]] = {}
        self._accept: str | None = None
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        head, sep, _ = data.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        if len(lines) > MAX_HEADERS + 1:
            return
        request_line = lines[0].split(b" ")
        if len(request_line) != 3:
            return
        method, target, version = request_line
        if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target) or not version.startswith(b"HTTP/"):
            return
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            value = value.strip(b" \t")
            if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
                return
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
        self.method, self.version = method.decode("ascii"), version.decode("ascii")
        self.path, self.headers = target.decode("ascii"), headers
        for field, text in headers:
            self._by_name.setdefault(field, []).append(text)

    def _all(self, name: str) -> list[str]:
        return self._by_name.get(name, [])

    def valid(self) -> bytes | None:
        """None when the request is a valid WebSocket upgrade, else the bytes of the error response."""
        if self.path is None:
            return self.refuse(HTTPStatus.BAD_REQUEST, b"malformed WebSocket upgrade request\n")
        if self.method != "GET":
            return self.refuse(HTTPStatus.METHOD_NOT_ALLOWED, _failed("method must be GET"), [(b"Allow", b"GET")])
        if self.version != "HTTP/1.1":
            return self.refuse(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, _failed("HTTP/1.1 only"))
        connection = _tokens(self._all("connection"), _TOKEN)
        upgrade = _tokens(self._all("upgrade"), _PROTOCOL)
        if connection is None or "upgrade" not in connection or upgrade != ["websocket"]:
            return self.refuse(
                HTTPStatus.UPGRADE_REQUIRED,
                _failed("this is a WebSocket endpoint: it needs Connection: Upgrade and Upgrade: websocket"),
                [(b"Upgrade", b"websocket")],
            )
        versions = self._all("sec-websocket-version")
        if versions != ["13"]:
            # RFC 6455 §4.4: say which version this server speaks.
            return self.refuse(
                HTTPStatus.UPGRADE_REQUIRED,
                _failed("Sec-WebSocket-Version must be 13"),
                [(b"Sec-WebSocket-Version", b"13")],
            )
        keys = self._all("sec-websocket-key")
        if len(keys) != 1 or not _is_key(keys[0]):
            return self.refuse(HTTPStatus.BAD_REQUEST, _failed("Sec-WebSocket-Key must be 16 bytes in base64"))
        if len(self._all("origin")) > 1:  # the endpoint's origin check reads one; two is a request to refuse
            return self.refuse(HTTPStatus.BAD_REQUEST, _failed("more than one Origin header"))
        self._accept = accept_key(keys[0])
        return None

    def scope(self, server: Any, client: Any, scheme: str, root_path: str) -> dict[str, Any]:
        """The ASGI websocket scope of the request (``state`` and ``extensions`` are the caller's)."""
        assert self.path is not None
        raw_path, _, query = self.path.partition("?")
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
            "headers": [(k.encode("ascii"), v.encode("latin-1")) for k, v in self.headers],
            "subprotocols": _subprotocols(self._all("sec-websocket-protocol")),
        }

    def accept(self, headers: Iterable[tuple[bytes, bytes]] = (), subprotocol: str | None = None) -> bytes:
        """The 101 response, with the application's extra headers."""
        assert self._accept is not None, "accept() after a valid() request only"
        lines = [
            b"HTTP/1.1 101 Switching Protocols",
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Accept: " + self._accept.encode("ascii"),
            b"Date: " + email.utils.formatdate(usegmt=True).encode("ascii"),
        ]
        lines += [_field(name, value) for name, value in headers]
        if subprotocol:
            lines.append(_field(b"Sec-WebSocket-Protocol", subprotocol.encode("ascii")))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def refuse(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[bytes, bytes]] = (), *, content_type: str = ""
    ) -> bytes:
        """A plain HTTP response instead of the upgrade (the connection closes after it)."""
        given = list(headers)
        names = {name.lower() for name, _ in given}
        defaults = [
            (b"Date", email.utils.formatdate(usegmt=True).encode("ascii")),
            (b"Connection", b"close"),
            (b"Content-Length", str(len(body)).encode("ascii")),
            (b"Content-Type", (content_type or "text/plain; charset=utf-8").encode("latin-1")),
        ]
        given += [(name, value) for name, value in defaults if name.lower() not in names]
        status_line = f"HTTP/1.1 {int(status)} {_phrase(status)}".rstrip().encode("ascii")
        return b"\r\n".join([status_line, *(_field(n, v) for n, v in given)]) + b"\r\n\r\n" + body


def _is_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def _tokens(values: list[str], pattern: re.Pattern[bytes]) -> list[str] | None:
    """The lowercased elements of a comma-separated header (RFC 9110 §5.6.1), or None if one is malformed.

    Empty elements are skipped, as the RFC asks, but each header line must hold at least one."""
    found: list[str] = []
    for value in values:
        elements = [element.strip(" \t") for element in value.split(",")]
        elements = [element for element in elements if element]
        if not elements or not all(pattern.fullmatch(element.encode("latin-1")) for element in elements):
            return None
        found += [element.lower() for element in elements]
    return found


def _field(name: bytes, value: bytes) -> bytes:
    """One header line; a name or value that would split the response is a bug of the caller."""
    if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
        raise ValueError(f"invalid response header {name!r}: {value!r}")
    return name + b": " + value


def _failed(why: str) -> bytes:
    return f"Failed to open a WebSocket connection: {why}.\n".encode()


def _subprotocols(values: list[str]) -> list[str]:
    return [token.strip() for value in values for token in value.split(",") if token.strip()]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
