"""Shift routes (protocol.md §4): a change commits with its ``shift:{id}`` event, published before the answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, deliver, path_id, query_id, state
from app.errors import NoFields, parse_body, parse_optional_body
from app.models.common import MAX_ID
from app.models.shift import ShiftConfigUpdate, ShiftCreate
from app.models.views import ShiftConfig, ShiftView
from app.openapi import KITCHEN, api, query
from app.responses import json_response
from app.services import shifts

__all__ = ["routes"]


@api(
    "Check in a shift",
    tags=["shifts"],
    body=ShiftCreate,
    responses={201: ShiftView},
    errors=[ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.SHIFT_OPEN, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE],
    description="A truck with an open shift is 409 `shift_open`.",
    roles=KITCHEN,
)
async def check_in(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, ShiftCreate)
    st = state(request)
    async with st.db.session() as session:  # a new shift: nobody else can write to it before this commit
        shift, _ = await shifts.check_in(session, truck_id=body.truck_id, location_id=body.location_id, actor=who)
    assert shift.id is not None
    headers = await deliver(request, shift.id)
    return json_response(shift.public(), 201, headers)


@api(
    "A truck's open shift",
    tags=["shifts"],
    responses={200: ShiftView},
    params=[query("truck_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "the truck", required=True)],
    errors=[ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND],
    description="404 when the truck has no open shift.",
    roles=KITCHEN,
)
async def active(request: Request) -> Response:
    who = await actor(request)
    truck_id = query_id(request, "truck_id")
    async with state(request).db.session() as session:
        shift = await shifts.get_active(session, truck_id=truck_id, actor=who)
    return json_response(shift.public())


def _lifecycle(action: str):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        who = await actor(request)
        await parse_optional_body(request, NoFields)
        shift_id = path_id(request)
        st = state(request)
        async with st.locks.write(shift_id) as session:
            shift, _ = await shifts.change_status(session, shift_id=shift_id, action=action, actor=who)
        headers = await deliver(request, shift_id)
        return json_response(shift.public(), headers=headers)

    endpoint.__name__ = f"shift_{action}"
    return api(
        f"{action.capitalize()} a shift",
        tags=["shifts"],
        body=NoFields,
        body_required=False,
        responses={200: ShiftView},
        errors=[ErrorCode.FORBIDDEN, ErrorCode.INVALID_TRANSITION, ErrorCode.UNAVAILABLE],
        description="Lifecycle active ⇄ paused → closed; anything else is 409 `invalid_transition`.",
        roles=KITCHEN,
    )(endpoint)


@api(
    "Throttle and screen settings",
    tags=["shifts"],
    responses={200: ShiftConfig},
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def get_config(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        shift = await shifts.load_shift(session, path_id(request), who)
    return json_response(shift.config())


@api(
    "Change throttle and screen settings",
    tags=["shifts"],
    body=ShiftConfigUpdate,
    responses={200: ShiftConfig},
    errors=[ErrorCode.FORBIDDEN, ErrorCode.INVALID_TRANSITION, ErrorCode.UNAVAILABLE],
    roles=KITCHEN,
)
async def patch_config(request: Request) -> Response:
    who = await actor(request)
    patch = await parse_body(request, ShiftConfigUpdate)
    shift_id = path_id(request)
    st = state(request)
    async with st.locks.write(shift_id) as session:
        shift, _ = await shifts.update_config(session, shift_id=shift_id, patch=patch, actor=who)
    headers = await deliver(request, shift_id)
    return json_response(shift.config(), headers=headers)


@api("Read a shift", tags=["shifts"], responses={200: ShiftView}, errors=[ErrorCode.FORBIDDEN], roles=KITCHEN)
async def get_shift(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        shift = await shifts.load_shift(session, path_id(request), who)
    return json_response(shift.public())


routes = [
    Route("/api/shifts", check_in, methods=["POST"]),
    Route("/api/shifts/active", active, methods=["GET"]),
    Route("/api/shifts/{id:int}", get_shift, methods=["GET"]),
    Route("/api/shifts/{id:int}/pause", _lifecycle("pause"), methods=["POST"]),
    Route("/api/shifts/{id:int}/resume", _lifecycle("resume"), methods=["POST"]),
    Route("/api/shifts/{id:int}/checkout", _lifecycle("checkout"), methods=["POST"]),
    Route("/api/shifts/{id:int}/config", get_config, methods=["GET"]),
    Route("/api/shifts/{id:int}/config", patch_config, methods=["PATCH"]),
]
