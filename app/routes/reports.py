"""Operator report routes (protocol.md §4.2): read-only, same auth and ownership rules as the shift routes.

Staff see their own truck's reports (403 otherwise), admins and managers every truck's, drivers none (403).
Inputs are checked before the database is asked: a bad ``format``, ``week`` or ``truck_id`` is 400.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, path_id, query_id, state
from app.errors import ApiError
from app.models import Truck
from app.models.common import MAX_ID
from app.models.views_ops import Dashboard, Weekly
from app.openapi import KITCHEN, Content, api, query
from app.responses import json_response
from app.services import reports
from app.services.permissions import require_truck_access
from app.services.shifts import load_shift

__all__ = ["routes"]

_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8; header=present", "json": "application/json"}


@api("Shift dashboard", tags=["reports"], responses={200: Dashboard}, errors=[ErrorCode.FORBIDDEN], roles=KITCHEN)
async def dashboard(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        shift = await load_shift(session, path_id(request), who)
        return json_response(await reports.shift_dashboard(session, shift))


def _export_format(request: Request) -> reports.ExportFormat:
    raw = request.query_params.get("format", "csv")
    if raw not in _MEDIA_TYPES:
        raise ApiError(ErrorCode.BAD_REQUEST, f"format must be csv or json, not {raw[:24]!r}")
    return cast(reports.ExportFormat, raw)


@api(
    "Export a shift's order lines",
    tags=["reports"],
    responses={
        200: (
            Content("text/csv", {"type": "string", "description": "format=csv: a header row, one row per line"}),
            Content("application/json", {"type": "object", "required": ["shift_id", "columns", "items"]}),
        )
    },
    params=[query("format", {"type": "string", "enum": ["csv", "json"], "default": "csv"}, "csv or json")],
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def export(request: Request) -> Response:
    """Rows are read in one query and the session closed before streaming: a slow download holds no connection."""
    who = await actor(request)
    shift_id = path_id(request)
    fmt = _export_format(request)
    async with state(request).db.session() as session:
        await load_shift(session, shift_id, who)
        rows = await reports.export_rows(session, shift_id)
    body = reports.stream_csv(rows) if fmt == "csv" else reports.stream_json(shift_id, rows)
    headers = {"Content-Disposition": f'attachment; filename="shift-{shift_id}-orders.{fmt}"'}
    return StreamingResponse(body, media_type=_MEDIA_TYPES[fmt], headers=headers)


@api(
    "A truck's week",
    tags=["reports"],
    responses={200: Weekly},
    params=[
        query("truck_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "the truck", required=True),
        query("week", {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"}, "ISO week, e.g. 2025-W47", required=True),
    ],
    errors=[ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND],
    roles=KITCHEN,
)
async def weekly(request: Request) -> Response:
    who = await actor(request)
    truck_id = query_id(request, "truck_id")
    week = reports.parse_week(request.query_params.get("week"))
    require_truck_access(who, truck_id)  # before the lookup: staff learn nothing of other trucks
    async with state(request).db.session() as session:
        if await session.get(Truck, truck_id) is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no truck {truck_id}")
        return json_response(await reports.weekly_report(session, truck_id, week))


routes = [
    Route("/api/shifts/{id:int}/dashboard", dashboard, methods=["GET"]),
    Route("/api/shifts/{id:int}/export", export, methods=["GET"]),
    Route("/api/reports/weekly", weekly, methods=["GET"]),
]
