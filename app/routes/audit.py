"""``GET /api/audit``: who did what, newest first, filtered and paged (protocol.md §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, state
from app.errors import ApiError
from app.models import AuditEntry
from app.models.common import MAX_ID, to_utc
from app.models.views_ops import AuditPage
from app.openapi import PAGE, Param, api, query
from app.pagination import page_of, paged
from app.responses import json_response
from app.services.audit import AuditQuery, search

__all__ = ["AUDIT_QUERY", "audit_query", "routes"]


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = to_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an ISO 8601 time, e.g. 2026-12-02T08:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _text(request: Request, name: str, limit: int) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and not 1 <= len(raw) <= limit:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be 1-{limit} characters")
    return raw


def audit_query(request: Request, *, action: str | None = None) -> AuditQuery:
    raw_actor = request.query_params.get("actor_id")
    if raw_actor is not None and not (raw_actor.isascii() and raw_actor.isdigit() and 0 < int(raw_actor) <= MAX_ID):
        raise ApiError(ErrorCode.BAD_REQUEST, "actor_id must be a user id")
    return AuditQuery(
        actor_id=int(raw_actor) if raw_actor is not None else None,
        action=action or _text(request, "action", 48),
        target=_text(request, "target", 160),
        since=_time(request, "since"),
        until=_time(request, "until"),
    )


AUDIT_QUERY: tuple[Param, ...] = (
    query("actor_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "who made the change"),
    query("action", {"type": "string", "minLength": 1, "maxLength": 48}, "an action, or its prefix ending in `.`"),
    query("target", {"type": "string", "minLength": 1, "maxLength": 160}, "e.g. `user:3`"),
    query("since", {"type": "string", "format": "date-time"}, "at or after (ISO 8601)"),
    query("until", {"type": "string", "format": "date-time"}, "before (ISO 8601)"),
    *PAGE,
)


@api(
    "The audit log",
    tags=["audit"],
    responses={200: AuditPage},
    params=AUDIT_QUERY,
    roles=["admin", "manager"],
    description="Newest first. Managers see no changes to admin and manager accounts.",
)
async def audit_log(request: Request) -> Response:
    who = await actor(request)
    query, page = audit_query(request), page_of(request)
    async with state(request).db.session() as session:
        rows = await search(session, who, query, page)
    return json_response(paged(rows, page, AuditEntry.public, key=lambda e: e.id or 0))


routes = [Route("/api/audit", audit_log, methods=["GET"])]
