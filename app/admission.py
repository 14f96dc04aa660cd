"""Admission control for the REST API: an overloaded node answers at once instead of queuing.

In a reconnect storm every tablet refetches its snapshot while the database pool is busy with
hellos. Requests queued behind the pool wait up to ``HUB_DB_TIMEOUT_S``, long after their clients
gave up and retried, so the queue only grows. Beyond ``HUB_MAX_PENDING_REQUESTS`` requests in
progress, one more gets 503 ``unavailable`` with ``Retry-After`` straight away (the client's
backoff spreads the retries) and is counted in ``hub_overload_refusals_total{what="request"}``.
"""

from __future__ import annotations

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from app.codes import ErrorCode
from app.responses import json_response

__all__ = ["AdmissionMiddleware"]

_RETRY_AFTER_S = "1"


class AdmissionMiddleware:
    """Pure ASGI: only ``/api/`` requests count; health, metrics and pages always pass."""

    def __init__(self, app: ASGIApp, *, limit: int, refused: Counter) -> None:
        """``limit``: requests in progress at once (0: no limit); ``refused``: the counter of refusals."""
        self.app = app
        self.limit = limit
        self.refused = refused
        self.pending = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if self.pending >= self.limit:
            self.refused.inc()
            body = {
                "error": {
                    "code": ErrorCode.UNAVAILABLE.value,
                    "message": "node overloaded: retry shortly",
                    "details": None,
                }
            }
            response = json_response(body, 503, {"Retry-After": _RETRY_AFTER_S})
            await response(scope, receive, send)
            return
        self.pending += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.pending -= 1
