"""Liveness, readiness and Prometheus metrics (protocol.md §4)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.deps import state
from app.models.views_ops import Health, Readiness
from app.openapi import Content, api
from app.responses import json_response

__all__ = ["routes"]

_CHECK_TIMEOUT_S = 2.0


@api("Process alive", tags=["operations"], responses={200: Health}, auth=False)
async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


@api(
    "Database and broker reachable",
    tags=["operations"],
    responses={200: Readiness, 503: Readiness},
    auth=False,
)
async def readyz(request: Request) -> Response:
    """503 naming each dependency that failed."""
    st = state(request)
    checks = {"database": st.db.ping, "broker": st.hub.ping_broker}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason goes to the operator
            results[name] = f"failed: {type(exc).__name__}: {exc}"[:200]
    failed = [name for name, result in results.items() if result != "ok"]
    backlog = st.relay.backlog  # informative: a node with a backlog still takes writes (they are committed)
    body = {
        "status": "ready" if not failed else "unavailable",
        "checks": results,
        "failed": failed,
        "outbox": {"pending": backlog.pending, "oldest_s": round(backlog.oldest_s, 3)},
    }
    return json_response(body, 200 if not failed else 503)


@api(
    "Prometheus metrics",
    tags=["operations"],
    responses={200: Content("text/plain", {"type": "string"})},
    auth=False,
    description="Prometheus text format (protocol.md §6); merged across workers.",
)
async def metrics(request: Request) -> Response:
    st = state(request)
    st.hub.flush_metrics()
    return Response(st.exporter.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
