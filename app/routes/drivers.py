"""Driver positions for dispatchers (protocol.md §4): the live fleet, who is near a point, one driver's trail."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, path_id, state
from app.errors import ApiError
from app.models import User
from app.models.views_ops import NearbyPage, PositionPage, Trail
from app.openapi import PAGE, api, query
from app.pagination import page_of, paged
from app.responses import json_response
from app.services.permissions import require_manager

__all__ = ["routes"]

MAX_RADIUS_M = 100_000.0


def _number(request: Request, name: str, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        raise ApiError(ErrorCode.BAD_REQUEST, f"query parameter {name} is required")
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be within [{low:g}, {high:g}]")
    return value


@api(
    "Latest driver positions", tags=["drivers"], responses={200: PositionPage}, params=PAGE, roles=["admin", "manager"]
)
async def positions(request: Request) -> Response:
    require_manager(await actor(request))
    page = page_of(request, kind="o")
    latest = await state(request).positions.latest()
    return json_response(paged(latest, page, lambda p: p.as_dict()))


@api(
    "Drivers near a point",
    tags=["drivers"],
    responses={200: NearbyPage},
    params=[
        query("lat", {"type": "number", "minimum": -90, "maximum": 90}, "latitude", required=True),
        query("lon", {"type": "number", "minimum": -180, "maximum": 180}, "longitude", required=True),
        query("radius_m", {"type": "number", "minimum": 0, "maximum": MAX_RADIUS_M}, "metres", required=True),
        *PAGE,
    ],
    roles=["admin", "manager"],
    description="Nearest first, with `distance_m`.",
)
async def nearby(request: Request) -> Response:
    require_manager(await actor(request))
    lat = _number(request, "lat", -90, 90)
    lon = _number(request, "lon", -180, 180)
    radius = _number(request, "radius_m", 0, MAX_RADIUS_M)
    page = page_of(request, kind="o")
    found = await state(request).positions.nearby(lat, lon, radius)
    return json_response(paged(found, page, lambda f: {**f[0].as_dict(), "distance_m": round(f[1], 1)}))


@api("A driver's trail", tags=["drivers"], responses={200: Trail}, params=PAGE, roles=["admin", "manager"])
async def trail(request: Request) -> Response:
    require_manager(await actor(request))
    driver_id = path_id(request)
    st = state(request)
    async with st.db.session() as session:
        user = await session.get(User, driver_id)
    if user is None or user.role != "driver":
        raise ApiError(ErrorCode.NOT_FOUND, f"no driver {driver_id}")
    page = page_of(request, kind="o")
    points = await st.positions.trail(driver_id)
    return json_response({"driver_id": driver_id, **paged(points, page, lambda p: p.as_dict())})


routes = [
    Route("/api/drivers/positions", positions, methods=["GET"]),
    Route("/api/drivers/nearby", nearby, methods=["GET"]),
    Route("/api/drivers/{id:int}/trail", trail, methods=["GET"]),
]
