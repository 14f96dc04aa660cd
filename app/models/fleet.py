"""Trucks, their weekly operating hours, and the places they park."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.common import iso, utcnow

__all__ = ["Location", "Truck", "TruckHours"]


class Truck(SQLModel, table=True):
    __tablename__ = "trucks"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    active: bool = True  # an inactive truck keeps its history but cannot check in a shift
    created_at: datetime = Field(default_factory=utcnow)

    def public(self, hours: list[TruckHours] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "active": self.active}
        if hours is not None:
            out["hours"] = [h.public() for h in sorted(hours, key=lambda h: (h.weekday, h.opens))]
        return out


class TruckHours(SQLModel, table=True):
    """One opening of a truck on a weekday (0 = Monday), ``opens`` before ``closes``, both "HH:MM"."""

    __tablename__ = "truck_hours"
    __table_args__ = (sa.Index("ix_truck_hours_truck_weekday", "truck_id", "weekday"),)

    id: int | None = Field(default=None, primary_key=True)
    truck_id: int = Field(foreign_key="trucks.id")
    weekday: int
    opens: str = Field(max_length=5)
    closes: str = Field(max_length=5)

    def public(self) -> dict[str, Any]:
        return {"weekday": self.weekday, "opens": self.opens, "closes": self.closes}


class Location(SQLModel, table=True):
    __tablename__ = "locations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    address: str = Field(default="", max_length=255)
    lat: float | None = None
    lon: float | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "lat": self.lat,
            "lon": self.lon,
            "active": self.active,
            "created_at": iso(self.created_at),
        }
