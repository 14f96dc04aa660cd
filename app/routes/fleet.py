"""``/api/trucks`` and ``/api/locations``: lists for everyone, changes for admins and managers (§4, §4.2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, path_id, state
from app.errors import parse_body
from app.models import Location
from app.models.fleet_io import HoursIn, LocationIn, LocationPatch, TruckIn, TruckPatch
from app.models.views import Location as LocationView
from app.models.views import Truck as TruckView
from app.models.views_ops import LocationPage, TruckPage
from app.openapi import PAGE, api
from app.pagination import page_of, paged
from app.responses import json_response
from app.services import fleet

__all__ = ["routes"]


@api(
    "List trucks",
    tags=["fleet"],
    responses={200: TruckPage},
    params=PAGE,
    description="Staff see their own truck only.",
)
async def trucks(request: Request) -> Response:
    who = await actor(request)
    page = page_of(request)
    async with state(request).db.session() as session:
        rows, views = await fleet.list_trucks(session, who, page)
    return json_response(paged(rows, page, lambda t: views[t.id or 0], key=lambda t: t.id or 0))


@api("Create a truck", tags=["fleet"], body=TruckIn, responses={201: TruckView}, roles=["admin", "manager"])
async def create_truck(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, TruckIn)
    async with state(request).db.session() as session:
        truck = await fleet.create_truck(session, body, who)
        return json_response(await fleet.truck_view(session, truck), 201)


@api("Read a truck", tags=["fleet"], responses={200: TruckView}, errors=[ErrorCode.FORBIDDEN])
async def get_truck(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        truck = await fleet.load_truck(session, path_id(request), who)
        return json_response(await fleet.truck_view(session, truck))


@api(
    "Change a truck",
    tags=["fleet"],
    body=TruckPatch,
    responses={200: TruckView},
    errors=[ErrorCode.CONFLICT],
    roles=["admin", "manager"],
    description="Deactivating a truck with an open shift is 409.",
)
async def patch_truck(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, TruckPatch)
    async with state(request).db.session() as session:
        truck = await fleet.update_truck(session, path_id(request), body, who)
        return json_response(await fleet.truck_view(session, truck))


@api(
    "Replace a truck's weekly hours",
    tags=["fleet"],
    body=HoursIn,
    responses={200: TruckView},
    roles=["admin", "manager"],
    description="Weekday 0 is Monday; opens before closes; no overlap on a day.",
)
async def put_hours(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, HoursIn)
    async with state(request).db.session() as session:
        return json_response(await fleet.set_hours(session, path_id(request), body, who))


@api("List locations", tags=["fleet"], responses={200: LocationPage}, params=PAGE)
async def locations(request: Request) -> Response:
    await actor(request)
    page = page_of(request)
    async with state(request).db.session() as session:
        rows = await fleet.list_locations(session, page)
    return json_response(paged(rows, page, Location.public, key=lambda loc: loc.id or 0))


@api("Create a location", tags=["fleet"], body=LocationIn, responses={201: LocationView}, roles=["admin", "manager"])
async def create_location(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, LocationIn)
    async with state(request).db.session() as session:
        location = await fleet.create_location(session, body, who)
    return json_response(location.public(), 201)


@api("Change a location", tags=["fleet"], body=LocationPatch, responses={200: LocationView}, roles=["admin", "manager"])
async def patch_location(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, LocationPatch)
    async with state(request).db.session() as session:
        location = await fleet.update_location(session, path_id(request), body, who)
    return json_response(location.public())


routes = [
    Route("/api/trucks", trucks, methods=["GET"]),
    Route("/api/trucks", create_truck, methods=["POST"]),
    Route("/api/trucks/{id:int}", get_truck, methods=["GET"]),
    Route("/api/trucks/{id:int}", patch_truck, methods=["PATCH"]),
    Route("/api/trucks/{id:int}/hours", put_hours, methods=["PUT"]),
    Route("/api/locations", locations, methods=["GET"]),
    Route("/api/locations", create_location, methods=["POST"]),
    Route("/api/locations/{id:int}", patch_location, methods=["PATCH"]),
]
