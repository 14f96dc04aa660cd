"""``/api/devices``: the caller's devices with ``last_seen`` and ``online`` (protocol.md §4.1 device)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.deps import actor, state
from app.errors import ApiError
from app.models import Device, iso, utcnow
from app.responses import json_response
from app.services.revocation import close_revoked
from hub.auth import ConnectionMatch
from hub.codes import ErrorCode

__all__ = ["routes"]


async def list_devices(request: Request) -> Response:
    who = await actor(request)
    st = state(request)
    # A device is online while a hub node keeps touching it; a node that died stops touching,
    # so three missed touches mark it offline even though no disconnect was recorded.
    stale = utcnow() - timedelta(seconds=3 * st.settings.device_touch_s)
    async with st.db.session() as session:
        rows = (await session.exec(select(Device).where(Device.user_id == who.user_id))).all()
    items = [
        {
            "device_id": d.device_id,
            "kind": d.kind,
            "app": d.app,
            "last_seen": iso(d.last_seen),
            "online": bool(d.online and d.last_seen >= stale),
        }
        for d in sorted(rows, key=lambda d: d.last_seen, reverse=True)
    ]
    return json_response({"items": items})


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
        await session.delete(row)
        await session.commit()
    await close_revoked(st.hub, ConnectionMatch(user_id=who.user_id, device_id=device_id), "device removed")
    return Response(status_code=204)


routes = [
    Route("/api/devices", list_devices, methods=["GET"]),
    Route("/api/devices/{device_id:str}", delete_device, methods=["DELETE"]),
]
