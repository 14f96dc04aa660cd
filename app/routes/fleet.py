"""``/api/trucks`` and ``/api/locations``: lists any authenticated user may read."""

from __future__ import annotations

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.deps import actor, state
from app.models import Location, Truck
from app.responses import json_response

__all__ = ["routes"]


async def trucks(request: Request) -> Response:
    await actor(request)
    async with state(request).db.session() as session:
        rows = (await session.exec(select(Truck).order_by(Truck.id))).all()  # type: ignore[arg-type]
    return json_response({"items": [t.public() for t in rows]})


async def locations(request: Request) -> Response:
    await actor(request)
    async with state(request).db.session() as session:
        rows = (await session.exec(select(Location).order_by(Location.id))).all()  # type: ignore[arg-type]
    return json_response({"items": [loc.public() for loc in rows]})


routes = [
    Route("/api/trucks", trucks, methods=["GET"]),
    Route("/api/locations", locations, methods=["GET"]),
]
