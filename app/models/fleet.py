"""Trucks and the places they park."""

from __future__ import annotations

from typing import Any

from sqlmodel import Field, SQLModel

__all__ = ["Location", "Truck"]


class Truck(SQLModel, table=True):
    __tablename__ = "trucks"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


class Location(SQLModel, table=True):
    __tablename__ = "locations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    address: str = Field(default="", max_length=255)
    lat: float | None = None
    lon: float | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "address": self.address, "lat": self.lat, "lon": self.lon}
