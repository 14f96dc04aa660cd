"""``GET /api/shifts/{id}/tickets?status=&limit=``: a shift's tickets in one status, most recent first.

An extension (the contract is silent on it) for the KDS recall list: the last bumped
(completed) or cancelled tickets, which the open-ticket snapshot no longer carries.
Same ownership rule as every shift read: staff of that truck, managers, admins.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, path_id, state
from app.errors import ApiError
from app.models.views import TicketList
from app.openapi import KITCHEN, api, query
from app.responses import json_response
from app.services.recall import recent_tickets
from app.services.shifts import load_shift

__all__ = ["routes"]

STATUSES = ("new", "in_progress", "ready", "completed", "cancelled")
DEFAULT_LIMIT = 20
MAX_LIMIT = 500  # protocol.md §4.2: lists take at most 500


def _query(request: Request) -> tuple[str, int]:
    status = request.query_params.get("status", "completed")
    if status not in STATUSES:
        raise ApiError(ErrorCode.BAD_REQUEST, f"status must be one of {', '.join(STATUSES)}")
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(ErrorCode.BAD_REQUEST, f"limit must be an integer within [1, {MAX_LIMIT}]")
    return status, int(raw)


@api(
    "A shift's tickets in one status",
    tags=["orders"],
    responses={200: TicketList},
    params=[
        query("status", {"type": "string", "enum": list(STATUSES), "default": "completed"}, "ticket status"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "at most"),
    ],
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def shift_tickets(request: Request) -> Response:
    who = await actor(request)
    status, limit = _query(request)
    shift_id = path_id(request)
    async with state(request).db.session() as session:
        await load_shift(session, shift_id, who)
        items = await recent_tickets(session, shift_id, status=status, limit=limit)
    return json_response({"items": items})


routes = [Route("/api/shifts/{id:int}/tickets", shift_tickets, methods=["GET"])]
