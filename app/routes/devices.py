"""``/api/devices``: the caller's devices, registered by ``hello`` or over REST, kept seen by sockets or heartbeats.

A device is ``online`` while something keeps its ``last_seen`` fresh: a hub node touching it every
``HUB_DEVICE_TOUCH_S`` while its socket is open (``seen_via: "socket"``), or the app's own
``POST …/heartbeat`` (``"heartbeat"``) when it does not hold a socket. Three missed touches mark it
offline, so a crashed node cannot leave devices online forever. Push tokens are stored for a later
push service; nothing is sent today (ROADMAP).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, state
from app.errors import ApiError, parse_body
from app.models import Device, iso, utcnow
from app.models.device import DEVICE_KINDS
from app.models.views_ops import DevicePage, DeviceView
from app.openapi import PAGE, api
from app.pagination import page_of, paged
from app.responses import json_response
from app.services import audit
from app.services.revocation import close_revoked
from hub.auth import ConnectionMatch

__all__ = ["routes"]

Field128 = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    device_id: Field128
    kind: str = "other"
    app: Field128 | None = None
    push_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


_KINDS = frozenset(DEVICE_KINDS)


def _view(device: Device, stale_after: timedelta) -> dict[str, Any]:
    """protocol.md §4.1 device, plus how it is kept seen and whether a push token is on file."""
    return {
        "device_id": device.device_id,
        "kind": device.kind,
        "app": device.app,
        "last_seen": iso(device.last_seen),
        "online": bool(device.online and device.last_seen >= utcnow() - stale_after),
        "seen_via": device.seen_via,
        "push_token_set": device.push_token is not None,
    }


def _stale_after(request: Request) -> timedelta:
    return timedelta(seconds=3 * state(request).settings.device_touch_s)


@api("The caller's devices", tags=["devices"], responses={200: DevicePage}, params=PAGE)
async def list_devices(request: Request) -> Response:
    who = await actor(request)
    page = page_of(request)
    statement = select(Device).where(Device.user_id == who.user_id).order_by(col(Device.id)).limit(page.limit + 1)
    if page.after is not None:
        statement = statement.where(col(Device.id) > page.after)
    async with state(request).db.session() as session:
        rows = list((await session.exec(statement)).all())
    stale = _stale_after(request)
    return json_response(paged(rows, page, lambda d: _view(d, stale), key=lambda d: d.id or 0))


@api(
    "Register a device",
    tags=["devices"],
    body=DeviceIn,
    responses={200: DeviceView, 201: DeviceView},
    errors=[ErrorCode.RATE_LIMITED],
)
async def register_device(request: Request) -> Response:
    """201 for a new device, 200 when the caller already had it (kind, app and push token updated)."""
    who = await actor(request)
    body = await parse_body(request, DeviceIn)
    if body.kind not in _KINDS:
        raise ApiError(ErrorCode.BAD_REQUEST, f"kind must be one of {', '.join(sorted(_KINDS))}", status=422)
    st = state(request)
    async with st.db.session() as session:
        device = (
            await session.exec(select(Device).where(Device.user_id == who.user_id, Device.device_id == body.device_id))
        ).first()
        created = device is None
        if device is None:
            count = await session.exec(select(func.count()).select_from(Device).where(Device.user_id == who.user_id))
            cap = st.settings.max_devices_per_user
            if count.one() >= cap:
                raise ApiError(ErrorCode.RATE_LIMITED, f"at most {cap} devices per user: remove one first")
            device = Device(user_id=who.user_id, device_id=body.device_id, seen_via="heartbeat")
        device.kind, device.app, device.push_token = body.kind, body.app, body.push_token
        device.last_seen = utcnow()
        session.add(device)
        await session.commit()
    return json_response(_view(device, _stale_after(request)), 201 if created else 200)


@api("Device heartbeat", tags=["devices"], responses={200: DeviceView})
async def heartbeat(request: Request) -> Response:
    """An app without a socket says it is alive: ``last_seen`` now, online for three touch intervals."""
    device_id = request.path_params["device_id"]
    who = await actor(request)
    async with state(request).db.session() as session:
        device = (
            await session.exec(select(Device).where(Device.user_id == who.user_id, Device.device_id == device_id))
        ).first()
        if device is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no device {device_id!r}: register it with POST /api/devices")
        device.last_seen, device.online, device.seen_via = utcnow(), True, "heartbeat"
        session.add(device)
        await session.commit()
    return json_response(_view(device, _stale_after(request)))


@api("Forget a device", tags=["devices"], responses={204: None})
async def delete_device(request: Request) -> Response:
    """Forget one of the caller's devices; its open sockets are closed 4401 (it must log in again)."""
    who = await actor(request)
    device_id = request.path_params["device_id"]
    st = state(request)
    async with st.db.session() as session:
        row = (
            await session.exec(select(Device).where(Device.user_id == who.user_id, Device.device_id == device_id))
        ).first()
        if row is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no device {device_id!r}")
        old = {"device_id": row.device_id, "kind": row.kind, "app": row.app}
        await session.delete(row)
        audit.record(session, who.user_id, "device.remove", f"device:{who.user_id}/{device_id}", old=old)
        await session.commit()
    await close_revoked(
        st.hub, st.sessions, ConnectionMatch(user_id=who.user_id, device_id=device_id), "device removed"
    )
    return Response(status_code=204)


routes = [
    Route("/api/devices", list_devices, methods=["GET"]),
    Route("/api/devices", register_device, methods=["POST"]),
    Route("/api/devices/{device_id:str}/heartbeat", heartbeat, methods=["POST"]),
    Route("/api/devices/{device_id:str}", delete_device, methods=["DELETE"]),
]
