"""Pure-ASGI HTTP middleware: request id in and out, access log, request metrics; NUL refusal."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id_var
from app.metrics import HttpMetrics

__all__ = ["RefuseNul", "RequestMiddleware"]

log = logging.getLogger("app.http")
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Request ids only need to be unique in logs: a random prefix per process and a counter (no system call per
        # request, which showed in profiles of reconnect storms).
        self._id_prefix = secrets.token_hex(6)
        self._id_counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets and lifespan pass untouched
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.fullmatch(incoming) else f"{self._id_prefix}-{next(self._id_counter):x}"
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(elapsed)
            log.info(
                "%s %s %s %.1fms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={"path": scope["path"], "status": status},
            )
            request_id_var.reset(token)


class RefuseNul:
    """400 for a NUL character in the path or the query string, before any route sees it.

    Postgres text cannot hold NUL: a device id or an audit filter carrying one turned into a database
    error (a 500) wherever the value reached a query. No path or parameter of the API can mean one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or ("\x00" not in scope["path"] and b"%00" not in scope["query_string"]):
            await self.app(scope, receive, send)
            return
        body = b'{"error":{"code":"bad_request","message":"NUL characters are not allowed in paths or queries",'
        body += b'"details":null}}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
