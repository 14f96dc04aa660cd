"""The hub's own screens: ``/`` (links), ``/kds`` (kitchen display), ``/dispatch`` (live fleet map), and their assets.

Pages and scripts are plain files in ``app/pages`` and ``app/static`` (no build step, no CDN:
a truck's tablet may have no internet beyond the hub). They hold no data: every page logs in
and reads through the REST API and ``/ws``, where roles and ownership are checked, so serving
them needs no authentication. Files are read off the event loop (Starlette's ``FileResponse`` and
``StaticFiles`` stat and read in a worker thread).

Every response carries a Content-Security-Policy that allows only this origin: scripts, styles,
images and ``fetch`` from 'self', and the WebSocket to this same host (``ws:``/``wss:`` are listed
explicitly because CSP level 2 browsers do not match them with 'self').
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PAGES_DIR", "STATIC_DIR", "content_security_policy", "routes"]

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# A Host header worth echoing into the policy: a hostname or bracketed IPv6 address, optional port.
# Anything else (header injection attempts included) falls back to 'self' alone.
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def content_security_policy(host: str | None) -> str:
    """The policy for a response to a request that named ``host``: this origin only, nothing inline."""
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(host: str | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(host),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Revalidate every time (ETag/Last-Modified make that a 304): a deploy reaches every tablet on reload.
        "Cache-Control": "no-cache",
    }


class _WithHeaders:
    """Pure-ASGI wrapper adding the security headers to every response of ``app`` (here: the static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1") or None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _headers(host).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page(filename: str):  # type: ignore[no-untyped-def]
    path = PAGES_DIR / filename

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=_headers(request.headers.get("host")))

    endpoint.__name__ = f"page_{path.stem}"
    return endpoint


routes: list[BaseRoute] = [
    Route("/", _page("index.html"), methods=["GET", "HEAD"], include_in_schema=False),
    Route("/kds", _page("kds.html"), methods=["GET", "HEAD"], include_in_schema=False),
    Route("/dispatch", _page("dispatch.html"), methods=["GET", "HEAD"], include_in_schema=False),
    Mount("/static", app=_WithHeaders(StaticFiles(directory=STATIC_DIR)), name="static"),
]
