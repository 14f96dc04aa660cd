"""``/openapi.json`` (generated from the routes), ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), all offline.

The viewers' scripts come from the ``openapi-ui-bundles`` wheel and are served by the hub itself, like
every screen (a truck's tablet may have no internet beyond the hub). The document is built on first
request from the app's own routes and served with a strong ETag; it changes only with the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread
import orjson
from openapi_ui_bundles import redoc, swagger_ui
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from app.codes import ErrorCode
from app.errors import ApiError
from app.openapi import openapi_document
from app.routes.pages import PAGES_DIR

__all__ = ["DESCRIPTION", "docs_routes"]

TITLE = "FusionX hub REST API"
VERSION = "1.1"  # protocol.md's contract version
DESCRIPTION = """\
The REST side of the hub (protocol.md §4). Log in with `POST /api/auth/login`, then send
`Authorization: Bearer <access_token>`. Errors are `{"error":{"code","message","details"}}`; each operation
lists its codes. Lists take `limit` and `cursor` and answer `{"items":[…],"next_cursor":…}`. Times are ISO 8601
UTC. Live events travel on the WebSocket `GET /ws` (protocol.md §2), not described here.
"""

_ASSETS: dict[str, Path] = {
    "swagger-ui.css": swagger_ui.static_path / "swagger-ui.css",
    "swagger-ui-bundle.js": swagger_ui.static_path / "swagger-ui-bundle.js",
    "favicon-32x32.png": swagger_ui.static_path / "favicon-32x32.png",
    "redoc.standalone.js": redoc.static_path / "redoc.standalone.js",
    "logo-mini.svg": redoc.static_path / "logo-mini.svg",
}
_REWRITES = {"redoc.standalone.js": (b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/docs/assets/logo-mini.svg")}
"""ReDoc's sidebar logo is the one file it would fetch from its CDN: the wheel ships it, so it comes from here."""
_MEDIA = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
_rewritten: dict[str, bytes] = {}


def _policy() -> dict[str, str]:
    """Like the screens' policy, but the viewers inject their own styles and ReDoc searches in a blob worker."""
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "worker-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _openapi_endpoint() -> Callable[[Request], Awaitable[Response]]:
    cache: list[tuple[bytes, str]] = []

    async def openapi_json(request: Request) -> Response:
        """The document is the same for every request of a running hub: built once, then 304 on a match."""
        if not cache:
            document = openapi_document(request.app.routes, title=TITLE, version=VERSION, description=DESCRIPTION)
            body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
            cache.append((body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'))
        body, etag = cache[0]
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type="application/json")

    return openapi_json


def _page(filename: str):  # type: ignore[no-untyped-def]
    path = PAGES_DIR / filename

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=_policy())

    endpoint.__name__ = f"page_{path.stem}"
    return endpoint


async def asset(request: Request) -> Response:
    """Only the files the two pages load, by name (the wheel also ships demo pages pointing at the internet)."""
    name = request.path_params["name"]
    path = _ASSETS.get(name)
    if path is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such asset")
    if name not in _REWRITES:
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_policy())
    if name not in _rewritten:  # once per process, read off the event loop like every file
        old, new = _REWRITES[name]
        _rewritten[name] = (await anyio.to_thread.run_sync(path.read_bytes)).replace(old, new)
    return Response(_rewritten[name], media_type=_MEDIA[path.suffix], headers=_policy())


def docs_routes() -> list[BaseRoute]:
    """Built per app: each keeps its own cached document."""
    return [
        Route("/openapi.json", _openapi_endpoint(), methods=["GET", "HEAD"], include_in_schema=False),
        Route("/docs", _page("docs.html"), methods=["GET", "HEAD"], include_in_schema=False),
        Route("/redoc", _page("redoc.html"), methods=["GET", "HEAD"], include_in_schema=False),
        Route("/docs/assets/{name:str}", asset, methods=["GET", "HEAD"], include_in_schema=False),
    ]
