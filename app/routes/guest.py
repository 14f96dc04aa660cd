"""Guest routes (protocol.md §4.3; no login): order ahead, pay through the provider's webhook, follow the order.

Writes follow the staff pattern: the shift's lock from the transaction (which stages the
events in the outbox) until ``deliver`` has published them.
"""

from __future__ import annotations

import re
import time

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, client_address, deliver, path_id, state
from app.errors import ApiError, parse_body
from app.models import Shift
from app.models.guest import (
    GuestOrderCreate,
    GuestOrderPlaced,
    GuestOrderView,
    LoyaltyView,
    PaymentWebhook,
    ReconcileResult,
    WebhookResult,
)
from app.openapi import KITCHEN, api
from app.openapi.meta import Content, Param
from app.responses import json_response
from app.routes.orders import IDEMPOTENCY_KEY, idempotency_key
from app.services import guest_loyalty, guest_orders, guest_payments, guest_reconcile
from app.services import guest_menu as guest_menu_service

__all__ = ["routes"]

_PAYMENTS_OFF = "guest payments are off on this hub: HUB_PAYMENT_WEBHOOK_SECRET is not set"
_PHONE = re.compile(r"\+?[0-9]{6,20}")


async def _shift(session: AsyncSession, shift_id: int) -> Shift:
    shift = await session.get(Shift, shift_id, populate_existing=True)
    if shift is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no shift {shift_id}")
    return shift


def _limited(request: Request) -> None:
    state(request).guest_limit.check(client_address(request))


@api(
    "Order ahead as a guest",
    tags=["guest"],
    body=GuestOrderCreate,
    responses={201: GuestOrderPlaced},
    params=[IDEMPOTENCY_KEY],
    errors=[
        ErrorCode.NOT_FOUND,
        ErrorCode.CONFLICT,
        ErrorCode.SOLD_OUT,
        ErrorCode.THROTTLED,
        ErrorCode.SHIFT_NOT_ACCEPTING,
        ErrorCode.RATE_LIMITED,
        ErrorCode.UNAVAILABLE,
    ],
    auth=False,
    description="Prices from the menu, holds the stock for HUB_PAYMENT_HOLD_S; the order_token is the guest's "
    "only credential (hello with order_token, GET /api/guest/orders/{token}). guest.md.",
)
async def place_guest_order(request: Request) -> Response:
    _limited(request)
    body = await parse_body(request, GuestOrderCreate)
    shift_id = path_id(request)
    key = idempotency_key(request)
    idem = (key, guest_orders.request_hash(shift_id, body)) if key else None
    st = state(request)
    if not st.settings.payment_webhook_secret:  # an order nobody can pay would only hold stock
        raise ApiError(ErrorCode.UNAVAILABLE, _PAYMENTS_OFF)
    async with st.locks.write(shift_id) as session:
        shift = await _shift(session, shift_id)
        guest, _, replayed = await guest_orders.place(
            session,
            shift,
            body,
            hold_s=st.settings.payment_hold_s,
            currency=st.settings.currency,
            idempotency=idem,
        )
        answer = guest_orders.placed(guest)
    headers = await deliver(request, shift_id) or {}  # stock alerts of the hold
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(answer, 201, headers or None)


@api(
    "What a guest may order now",
    tags=["guest"],
    responses={
        200: Content(
            "application/json",
            {
                "type": "object",
                "description": "{shift:{id, status, truck_name}, accepting_orders, message?, categories, specials, "
                "wait_estimate_s}; items with price_cents and sold_out",
            },
        ),
        304: None,
    },
    params=[Param("If-None-Match", {"type": "string"}, "the ETag of a menu already held: 304", where="header")],
    errors=[ErrorCode.NOT_FOUND, ErrorCode.RATE_LIMITED],
    auth=False,
    description="Rendered at most once a second per shift (single flight), with an ETag. guest.md.",
)
async def guest_menu(request: Request) -> Response:
    _limited(request)
    shift_id = path_id(request)
    st = state(request)

    async def produce() -> guest_menu_service.Rendered:
        async with st.db.session() as session:
            return await guest_menu_service.render(
                session, shift_id, payments_on=bool(st.settings.payment_webhook_secret)
            )

    menu = await st.guest_menus.get(shift_id, produce)
    headers = {"ETag": menu.etag, "Cache-Control": f"public, max-age={int(guest_menu_service.TTL_S)}"}
    if menu.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(menu.body, media_type="application/json", headers=headers)


@api(
    "A guest order's status",
    tags=["guest"],
    responses={200: GuestOrderView},
    errors=[ErrorCode.NOT_FOUND, ErrorCode.RATE_LIMITED],
    auth=False,
    description="The same state the order:{order_token} topic publishes, with the items. guest.md.",
)
async def get_guest_order(request: Request) -> Response:
    _limited(request)
    async with state(request).db.session() as session:
        guest = await guest_orders.load_guest(session, request.path_params["token"])
        return json_response(await guest_orders.view(session, guest))


@api(
    "Payment provider webhook",
    tags=["guest"],
    body=PaymentWebhook,
    responses={200: WebhookResult},
    params=[
        Param(
            "X-Hub-Signature",
            {"type": "string"},
            't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with HUB_PAYMENT_WEBHOOK_SECRET>',
            required=True,
            where="header",
        )
    ],
    errors=[ErrorCode.UNAUTHORIZED, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE],
    auth=False,
    description="Signed by the provider, not by a login; replays answer 200 and change nothing. guest.md.",
)
async def payment_webhook(request: Request) -> Response:
    st = state(request)
    secret = st.settings.payment_webhook_secret
    if not secret:
        raise ApiError(ErrorCode.UNAVAILABLE, _PAYMENTS_OFF)
    raw = await request.body()
    # Nothing is read from the body, let alone written, before the signature holds.
    guest_payments.verify_signature(secret, request.headers.get("x-hub-signature"), raw, time.time())
    body = await parse_body(request, PaymentWebhook)
    async with st.db.session() as session:
        shift_id = (await guest_orders.load_guest(session, body.order_token)).shift_id
    async with st.locks.write(shift_id) as session:
        guest = await guest_orders.load_guest(session, body.order_token)
        result = await guest_payments.apply(session, await _shift(session, shift_id), guest, body)
    headers = await deliver(request, shift_id)
    return json_response(result, headers=headers)


@api("Expire lapsed holds, queue paid orders", tags=["guest"], responses={200: ReconcileResult}, roles=["admin"])
async def reconcile(request: Request) -> Response:
    who = await actor(request)
    if who.role != "admin":
        raise ApiError(ErrorCode.FORBIDDEN, "admins only")
    st = state(request)
    tally = await guest_reconcile.reconcile_all(st.db, st.locks, st.relay)
    result = ReconcileResult(queued=tally.queued, expired=tally.expired, rejected=tally.rejected)
    return json_response(result.model_dump(mode="json"))


@api(
    "A phone's loyalty points",
    tags=["guest"],
    responses={200: LoyaltyView},
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def loyalty(request: Request) -> Response:
    who = await actor(request)
    phone = request.path_params["phone"]
    if not _PHONE.fullmatch(phone):
        raise ApiError(ErrorCode.BAD_REQUEST, "phone must be 6-20 digits, optionally after a +")
    st = state(request)
    async with st.db.session() as session:
        view = await guest_loyalty.loyalty(session, phone, who, points_per_order=st.settings.loyalty_points_per_order)
    return json_response(view.model_dump(mode="json"))


routes = [
    Route("/api/guest/shifts/{id:int}/menu", guest_menu, methods=["GET"]),
    Route("/api/guest/shifts/{id:int}/orders", place_guest_order, methods=["POST"]),
    Route("/api/guest/orders/{token:str}", get_guest_order, methods=["GET"]),
    Route("/api/guest/payments/webhook", payment_webhook, methods=["POST"]),
    Route("/api/guest/reconcile", reconcile, methods=["POST"]),
    Route("/api/guest/loyalty/{phone:str}", loyalty, methods=["GET"]),
]
