"""Shift lifecycle: check-in, pause, resume, checkout and throttle settings (protocol.md §4)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import Location, Shift, Truck, utcnow
from app.models.shift import ShiftConfigUpdate
from app.security import AccessClaims
from app.services import audit
from app.services.events import OutEvent, stage
from app.services.permissions import require_truck_access

__all__ = ["TRANSITIONS", "change_status", "check_in", "get_active", "load_shift", "update_config"]

# action -> (statuses it applies to, new status, event)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "pause": (frozenset({"active"}), "paused", "shift.paused"),
    "resume": (frozenset({"paused"}), "active", "shift.resumed"),
    "checkout": (frozenset({"active", "paused"}), "closed", "shift.checked_out"),
}


async def _commit(session: AsyncSession, shift: Shift, name: str) -> list[OutEvent]:
    """Stage the shift's event with the change, then commit both."""
    await session.flush()
    assert shift.id is not None
    events = [OutEvent(f"shift:{shift.id}", name, shift.public())]
    stage(session, shift.id, events)
    await session.commit()
    return events


async def load_shift(session: AsyncSession, shift_id: int, actor: AccessClaims) -> Shift:
    """The shift, if it exists (404) and the actor may act on its truck (403)."""
    shift = await session.get(Shift, shift_id)
    if shift is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no shift {shift_id}")
    require_truck_access(actor, shift.truck_id)
    return shift


async def check_in(
    session: AsyncSession, *, truck_id: int, location_id: int, actor: AccessClaims
) -> tuple[Shift, list[OutEvent]]:
    require_truck_access(actor, truck_id)
    truck = await session.get(Truck, truck_id)
    if truck is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no truck {truck_id}")
    if not truck.active:
        raise ApiError(ErrorCode.CONFLICT, f"truck {truck_id} is inactive: an admin or manager can reactivate it")
    location = await session.get(Location, location_id)
    if location is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no location {location_id}")
    if not location.active:
        raise ApiError(ErrorCode.CONFLICT, f"location {location_id} is inactive")
    shift = Shift(truck_id=truck_id, location_id=location_id, status="active")
    session.add(shift)
    try:
        await session.flush()  # the partial unique index refuses a second open shift, even concurrently
    except IntegrityError:
        await session.rollback()
        raise ApiError(ErrorCode.SHIFT_OPEN, f"truck {truck_id} already has an open shift") from None
    audit.record(session, actor.user_id, "shift.check_in", f"shift:{shift.id}", new=shift.public(), truck_id=truck_id)
    return shift, await _commit(session, shift, "shift.checked_in")


async def get_active(session: AsyncSession, *, truck_id: int, actor: AccessClaims) -> Shift:
    require_truck_access(actor, truck_id)
    shift = (await session.exec(select(Shift).where(Shift.truck_id == truck_id, Shift.status != "closed"))).first()
    if shift is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"truck {truck_id} has no open shift")
    return shift


async def change_status(
    session: AsyncSession, *, shift_id: int, action: str, actor: AccessClaims
) -> tuple[Shift, list[OutEvent]]:
    allowed_from, new_status, event = TRANSITIONS[action]
    shift = await load_shift(session, shift_id, actor)
    current = shift.status  # read before the rollback below expires the object
    values: dict[str, object] = {"status": new_status}
    if new_status == "closed":
        values["ended_at"] = utcnow()
    # Compare-and-set on the status: of two concurrent requests only one moves the shift (one event).
    result = await session.exec(
        update(Shift).where(col(Shift.id) == shift_id, col(Shift.status).in_(allowed_from)).values(**values)
    )
    if result.rowcount != 1:
        await session.rollback()
        raise ApiError(ErrorCode.INVALID_TRANSITION, f"cannot {action} a shift that is {current}")
    audit.record(
        session,
        actor.user_id,
        f"shift.{action}",
        f"shift:{shift_id}",
        old={"status": current},
        new={"status": new_status},
        truck_id=shift.truck_id,
    )
    await session.flush()
    await session.refresh(shift)
    return shift, await _commit(session, shift, event)


async def update_config(
    session: AsyncSession, *, shift_id: int, patch: ShiftConfigUpdate, actor: AccessClaims
) -> tuple[Shift, list[OutEvent]]:
    shift = await load_shift(session, shift_id, actor)
    if shift.status == "closed":
        raise ApiError(ErrorCode.INVALID_TRANSITION, "a closed shift cannot be reconfigured")
    old = shift.config()
    for field, value in patch.model_dump(exclude_none=True).items():
        setattr(shift, field, value)
    if shift.late_after_s <= shift.warn_after_s:
        raise ApiError(ErrorCode.BAD_REQUEST, "late_after_s must be greater than warn_after_s", status=422)
    session.add(shift)
    audit.record(
        session,
        actor.user_id,
        "shift.config",
        f"shift:{shift_id}",
        old=old,
        new=shift.config(),
        truck_id=shift.truck_id,
    )
    return shift, await _commit(session, shift, "shift.config_updated")
