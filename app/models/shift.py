"""A truck's service at a location, from check-in to checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, with_config
from pydantic import Field as Check
from sqlmodel import Field, SQLModel
from typing_extensions import TypedDict

from app.models.common import Id, iso, utcnow

__all__ = ["Shift", "ShiftConfig", "ShiftConfigUpdate", "ShiftCreate", "ShiftPublic", "ShiftStatus"]

ShiftStatus = Literal["active", "paused", "closed"]


@with_config(ConfigDict(extra="forbid"))
class ShiftConfig(TypedDict):
    max_orders_per_slot: int
    slot_minutes: int
    warn_after_s: int
    late_after_s: int


@with_config(ConfigDict(extra="forbid"))
class ShiftPublic(TypedDict):
    """protocol.md §4.1 shift: the REST body and the ``data`` of every ``shift.*`` event (its AsyncAPI schema)."""

    id: int
    truck_id: int
    location_id: int
    status: ShiftStatus
    started_at: str
    ended_at: str | None
    config: ShiftConfig


class Shift(SQLModel, table=True):
    __tablename__ = "shifts"
    # At most one open shift per truck, enforced by the database so two concurrent check-ins
    # cannot both win (the loser gets 409 shift_open).
    __table_args__ = (
        sa.Index(
            "uq_shifts_open_truck",
            "truck_id",
            unique=True,
            sqlite_where=sa.text("status != 'closed'"),
            postgresql_where=sa.text("status != 'closed'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    truck_id: int = Field(foreign_key="trucks.id", index=True)
    location_id: int = Field(foreign_key="locations.id")
    status: str = Field(default="active", max_length=16)
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    max_orders_per_slot: int = 20
    slot_minutes: int = 15
    # Kitchen screen colours: a ticket older than these turns yellow, then red.
    warn_after_s: int = 300
    late_after_s: int = 480
    # Ticket numbers 1, 2, 3... per shift: bumped by a conditional UPDATE that also checks the shift accepts orders.
    last_ticket_number: int = 0

    def config(self) -> ShiftConfig:
        return {
            "max_orders_per_slot": self.max_orders_per_slot,
            "slot_minutes": self.slot_minutes,
            "warn_after_s": self.warn_after_s,
            "late_after_s": self.late_after_s,
        }

    def public(self) -> ShiftPublic:
        """protocol.md §4.1 shift."""
        assert self.id is not None, "a shift is published once it has an id"
        return {
            "id": self.id,
            "truck_id": self.truck_id,
            "location_id": self.location_id,
            "status": cast(ShiftStatus, self.status),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "config": self.config(),
        }


class ShiftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    truck_id: Id
    location_id: Id


class ShiftConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_orders_per_slot: int | None = Check(default=None, ge=1, le=10_000)
    slot_minutes: int | None = Check(default=None, ge=1, le=240)
    warn_after_s: int | None = Check(default=None, ge=10, le=24 * 3600)
    late_after_s: int | None = Check(default=None, ge=10, le=24 * 3600)
