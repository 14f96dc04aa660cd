"""Order and ticket routes (protocol.md §4): place, read, move through the kitchen, KDS snapshot, summary.

Every write on a shift holds that shift's lock from its transaction (which stages its events in
the outbox) until they are published, and the KDS snapshot reads under the same lock (see
``app.services.serial`` and ``app.services.relay``).
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, deliver, path_id, publish_pending, state
from app.errors import ApiError, NoFields, parse_body, parse_optional_body
from app.models.order import AdvanceBody, CancelBody, OrderCreate
from app.models.views import Ticket, TicketList
from app.models.views_ops import KdsSnapshot, ShiftSummary
from app.openapi import KITCHEN, api
from app.openapi.meta import Param
from app.responses import json_response
from app.services import orders, summary, tickets
from app.services.events import OutEvent
from app.services.permissions import require_truck_access
from app.services.shifts import load_shift

__all__ = ["IDEMPOTENCY_KEY", "idempotency_key", "routes"]

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:~+/=")


IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9._:~+/=-]+$"},
    "the same key and body replay the first answer (with `Idempotent-Replayed: true`)",
    where="header",
)
"""The header :func:`idempotency_key` reads, as every route that takes it documents it."""


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not set(key) <= _KEY_CHARS:
        raise ApiError(ErrorCode.BAD_REQUEST, "Idempotency-Key must be 1-255 characters of [A-Za-z0-9-_.:~+/=]")
    return key


@api(
    "Place an order",
    tags=["orders"],
    body=OrderCreate,
    responses={200: Ticket, 201: Ticket},
    params=[IDEMPOTENCY_KEY],
    errors=[
        ErrorCode.FORBIDDEN,
        ErrorCode.SOLD_OUT,
        ErrorCode.SHIFT_NOT_ACCEPTING,
        ErrorCode.THROTTLED,
        ErrorCode.CONFLICT,
        ErrorCode.UNAVAILABLE,
    ],
    description="Stock is decremented atomically: of two orders for the last unit exactly one wins.",
    roles=KITCHEN,
)
async def place_order(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, OrderCreate)
    shift_id = path_id(request)
    key = idempotency_key(request)
    idem = (key, orders.request_hash(shift_id, body)) if key else None
    st = state(request)
    async with st.db.reads() as session:  # reads first, outside the shift's lock
        shift = await load_shift(session, shift_id, who)
        placed = await orders.find_replay(session, who, *idem) if idem else None
        items = await orders.menu_lines(session, shift, body) if placed is None else {}
    if placed is None:
        async with st.locks.write(shift_id) as session:
            placed = await orders.place_order(session, shift, body, who, items, idempotency=idem)
    # A replay delivers too: the first attempt's node may have died between its commit and its publish.
    headers = await deliver(request, shift_id) or {}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(placed.body, placed.status, headers or None)


@api("KDS snapshot", tags=["orders"], responses={200: KdsSnapshot}, errors=[ErrorCode.FORBIDDEN], roles=KITCHEN)
async def kds_snapshot(request: Request) -> Response:
    who = await actor(request)
    shift_id = path_id(request)
    st = state(request)
    topic = f"kds:{shift_id}"

    async def cached() -> Response | None:
        """The snapshot taken at the topic's current position, if any: still exact (app.services.kds_cache)."""
        entry = st.kds_snapshots.get(shift_id)
        if entry is None:
            return None
        require_truck_access(who, entry.truck_id)
        current = st.kds_snapshots.current(entry, await st.hub.position(topic))
        return Response(entry.body, media_type="application/json") if current else None

    if (hit := await cached()) is not None:
        return hit
    async with st.locks.hold(shift_id):
        if (hit := await cached()) is not None:  # another tablet took it while this one waited for the lock
            return hit
        await publish_pending(request, shift_id)  # the snapshot's seq must cover every ticket it shows
        async with st.db.session() as session:
            shift = await load_shift(session, shift_id, who)
            open_tickets = await tickets.open_tickets(session, shift_id)
        top = await st.hub.position(topic)
    body = orjson.dumps({"shift_id": shift_id, "tickets": open_tickets, "seq": top.seq, "epoch": top.epoch})
    st.kds_snapshots.put(shift_id, truck_id=shift.truck_id, top=top, body=body)
    return Response(body, media_type="application/json")


@api(
    "Shift summary",
    tags=["orders", "reports"],
    responses={200: ShiftSummary},
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def shift_summary(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        shift = await load_shift(session, path_id(request), who)
        return json_response(await summary.shift_summary(session, shift))


@api("Ticket detail", tags=["orders"], responses={200: Ticket}, errors=[ErrorCode.FORBIDDEN], roles=KITCHEN)
async def get_order(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        order, _ = await tickets.load_order(session, path_id(request), who)
        (ticket,) = await tickets.tickets(session, [order])
    return json_response(ticket)


async def _ticket_change(request: Request, action: str) -> Response:
    who = await actor(request)
    order_id = path_id(request)
    advance_to = (await parse_body(request, AdvanceBody)).to if action == "advance" else None
    reason = (await parse_body(request, CancelBody)).reason if action == "cancel" else None
    if action in ("hold", "resume"):
        await parse_optional_body(request, NoFields)  # a malformed body is refused, not ignored
    st = state(request)
    async with st.db.session() as session:
        order, _ = await tickets.load_order(session, order_id, who)
    async with st.locks.write(order.shift_id) as session:
        order, _ = await tickets.load_order(session, order_id, who)
        events: list[OutEvent]
        if advance_to is not None:
            events = await tickets.advance(session, order, advance_to, who)
        elif reason is not None:
            events = await tickets.cancel(session, order, reason, who)
        else:
            events = await tickets.hold(session, order, who, on=action == "hold")
    headers = await deliver(request, order.shift_id)
    return json_response(events[0].data, headers=headers)


def _ticket_route(action: str):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        return await _ticket_change(request, action)

    endpoint.__name__ = f"ticket_{action}"
    bodies: dict[str, type[BaseModel]] = {"advance": AdvanceBody, "cancel": CancelBody}
    return api(
        _TICKET_SUMMARIES[action],
        tags=["orders"],
        body=bodies.get(action, NoFields),
        body_required=action in bodies,
        responses={200: Ticket},
        errors=[ErrorCode.FORBIDDEN, ErrorCode.INVALID_TRANSITION, ErrorCode.UNAVAILABLE],
        roles=KITCHEN,
    )(endpoint)


_TICKET_SUMMARIES = {
    "advance": "Advance a ticket (new → in_progress → ready → completed)",
    "hold": "Hold a ticket",
    "resume": "Resume a held ticket",
    "cancel": "Cancel a ticket",
}


@api(
    "Complete every ready ticket",
    tags=["orders"],
    body=NoFields,
    body_required=False,
    responses={200: TicketList},
    errors=[ErrorCode.FORBIDDEN, ErrorCode.INVALID_TRANSITION, ErrorCode.UNAVAILABLE],
    roles=KITCHEN,
)
async def advance_ready(request: Request) -> Response:
    who = await actor(request)
    await parse_optional_body(request, NoFields)
    shift_id = path_id(request)
    st = state(request)
    async with st.locks.write(shift_id) as session:
        shift = await load_shift(session, shift_id, who)
        events = await tickets.advance_ready(session, shift, who)
    headers = await deliver(request, shift_id)
    return json_response({"items": [e.data for e in events]}, headers=headers)


routes = [
    Route("/api/shifts/{id:int}/orders", place_order, methods=["POST"]),
    Route("/api/shifts/{id:int}/kds", kds_snapshot, methods=["GET"]),
    Route("/api/shifts/{id:int}/summary", shift_summary, methods=["GET"]),
    Route("/api/shifts/{id:int}/advance-ready", advance_ready, methods=["POST"]),
    Route("/api/orders/{id:int}", get_order, methods=["GET"]),
    Route("/api/orders/{id:int}/advance", _ticket_route("advance"), methods=["POST"]),
    Route("/api/orders/{id:int}/hold", _ticket_route("hold"), methods=["POST"]),
    Route("/api/orders/{id:int}/resume", _ticket_route("resume"), methods=["POST"]),
    Route("/api/orders/{id:int}/cancel", _ticket_route("cancel"), methods=["POST"]),
]
