"""Request bodies of the truck and location routes (protocol.md §4.2), with the hours' rules."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic import Field as Check

__all__ = ["Hour", "HoursIn", "LocationIn", "LocationPatch", "TruckIn", "TruckPatch"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Clock = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
""""HH:MM" on a 24-hour clock; "24:00" closes at midnight."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TruckIn(_Strict):
    name: Name


class TruckPatch(_Strict):
    name: Name | None = None
    active: bool | None = None


class Hour(_Strict):
    weekday: int = Check(ge=0, le=6)  # 0 = Monday
    opens: Clock
    closes: Clock

    @model_validator(mode="after")
    def _opens_first(self) -> Hour:
        if self.opens >= self.closes:  # "HH:MM" strings order like the times they name
            raise ValueError(
                f"opens ({self.opens}) must be before closes ({self.closes}); split a night across two days"
            )
        return self


class HoursIn(_Strict):
    hours: list[Hour] = Check(max_length=70)

    @model_validator(mode="after")
    def _no_overlap(self) -> HoursIn:
        by_day: dict[int, list[Hour]] = {}
        for hour in self.hours:
            by_day.setdefault(hour.weekday, []).append(hour)
        for day, hours in by_day.items():
            hours.sort(key=lambda h: h.opens)
            for earlier, later in zip(hours, hours[1:], strict=False):
                if later.opens < earlier.closes:
                    raise ValueError(
                        f"weekday {day}: {earlier.opens}-{earlier.closes} overlaps {later.opens}-{later.closes}"
                    )
        return self


class LocationIn(_Strict):
    name: Name
    lat: float | None = Check(default=None, ge=-90, le=90)
    lon: float | None = Check(default=None, ge=-180, le=180)
    address: str = Check(default="", max_length=255)


class LocationPatch(_Strict):
    name: Name | None = None
    lat: float | None = Check(default=None, ge=-90, le=90)
    lon: float | None = Check(default=None, ge=-180, le=180)
    address: str | None = Check(default=None, max_length=255)
    active: bool | None = None
