"""Trucks, their weekly hours, and locations: created and changed by admins and managers, audited.

Staff see only their own truck. A deactivated truck keeps its history but cannot check in a
shift (and cannot be deactivated while one is open); a deactivated location takes no new shifts.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import Location, Shift, Truck, TruckHours
from app.models.fleet_io import HoursIn, LocationIn, LocationPatch, TruckIn, TruckPatch
from app.pagination import Page
from app.security import AccessClaims
from app.services import audit
from app.services.permissions import require_manager, require_truck_access

__all__ = [
    "create_location",
    "create_truck",
    "list_locations",
    "list_trucks",
    "load_truck",
    "set_hours",
    "truck_view",
    "update_location",
    "update_truck",
]


async def _hours(session: AsyncSession, truck_ids: list[int]) -> dict[int, list[TruckHours]]:
    rows = await session.exec(select(TruckHours).where(col(TruckHours.truck_id).in_(truck_ids)))
    found: dict[int, list[TruckHours]] = {truck_id: [] for truck_id in truck_ids}
    for row in rows:
        found[row.truck_id].append(row)
    return found


async def truck_view(session: AsyncSession, truck: Truck) -> dict[str, Any]:
    assert truck.id is not None
    return truck.public((await _hours(session, [truck.id]))[truck.id])


async def list_trucks(session: AsyncSession, actor: AccessClaims, page: Page) -> tuple[list[Truck], dict[int, Any]]:
    """Admins and managers see every truck; staff only theirs; drivers every truck (to see where to go)."""
    statement = select(Truck).order_by(col(Truck.id)).limit(page.limit + 1)
    if page.after is not None:
        statement = statement.where(col(Truck.id) > page.after)
    if actor.role == "staff":
        statement = statement.where(Truck.id == actor.truck_id)
    trucks = list((await session.exec(statement)).all())
    hours = await _hours(session, [t.id for t in trucks if t.id is not None])
    return trucks, {t.id: t.public(hours[t.id]) for t in trucks if t.id is not None}


async def load_truck(session: AsyncSession, truck_id: int, actor: AccessClaims) -> Truck:
    truck = await session.get(Truck, truck_id, populate_existing=True)
    if truck is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no truck {truck_id}")
    if actor.role == "staff":
        require_truck_access(actor, truck_id)
    return truck


async def create_truck(session: AsyncSession, body: TruckIn, actor: AccessClaims) -> Truck:
    require_manager(actor)
    truck = Truck(name=body.name)
    session.add(truck)
    await session.flush()
    audit.record(session, actor.user_id, "truck.create", f"truck:{truck.id}", new=truck.public([]), truck_id=truck.id)
    await session.commit()
    return truck


async def update_truck(session: AsyncSession, truck_id: int, body: TruckPatch, actor: AccessClaims) -> Truck:
    require_manager(actor)
    truck = await load_truck(session, truck_id, actor)
    old = truck.public()
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise ApiError(ErrorCode.BAD_REQUEST, "name and active cannot be null", status=422)
    if changes.get("active") is False and truck.active:
        open_shift = await session.exec(select(Shift.id).where(Shift.truck_id == truck_id, Shift.status != "closed"))
        if open_shift.first() is not None:
            raise ApiError(ErrorCode.CONFLICT, f"truck {truck_id} has an open shift: check it out first")
    for field, value in changes.items():
        setattr(truck, field, value)
    session.add(truck)
    audit.record(
        session, actor.user_id, "truck.update", f"truck:{truck_id}", old=old, new=truck.public(), truck_id=truck_id
    )
    await session.commit()
    return truck


async def set_hours(session: AsyncSession, truck_id: int, body: HoursIn, actor: AccessClaims) -> dict[str, Any]:
    """Replace the week's hours (validated in :class:`HoursIn`: weekday, opens before closes, no overlap)."""
    require_manager(actor)
    truck = await load_truck(session, truck_id, actor)
    before = await truck_view(session, truck)
    await session.exec(delete(TruckHours).where(col(TruckHours.truck_id) == truck_id))
    session.add_all(
        TruckHours(truck_id=truck_id, weekday=h.weekday, opens=h.opens, closes=h.closes) for h in body.hours
    )
    await session.flush()
    after = await truck_view(session, truck)
    audit.record(
        session,
        actor.user_id,
        "truck.hours",
        f"truck:{truck_id}",
        old=before["hours"],
        new=after["hours"],
        truck_id=truck_id,
    )
    await session.commit()
    return after


async def list_locations(session: AsyncSession, page: Page) -> list[Location]:
    statement = select(Location).order_by(col(Location.id)).limit(page.limit + 1)
    if page.after is not None:
        statement = statement.where(col(Location.id) > page.after)
    return list((await session.exec(statement)).all())


async def create_location(session: AsyncSession, body: LocationIn, actor: AccessClaims) -> Location:
    require_manager(actor)
    location = Location(**body.model_dump())
    session.add(location)
    await session.flush()
    audit.record(session, actor.user_id, "location.create", f"location:{location.id}", new=location.public())
    await session.commit()
    return location


async def update_location(
    session: AsyncSession, location_id: int, body: LocationPatch, actor: AccessClaims
) -> Location:
    require_manager(actor)
    location = await session.get(Location, location_id, populate_existing=True)
    if location is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no location {location_id}")
    old = location.public()
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "active", "address"):
        if field in changes and changes[field] is None:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{field} cannot be null", status=422)
    for field, value in changes.items():
        setattr(location, field, value)
    session.add(location)
    audit.record(session, actor.user_id, "location.update", f"location:{location_id}", old=old, new=location.public())
    await session.commit()
    return location
