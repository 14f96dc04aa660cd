"""Shared by models: aware UTC datetimes, ISO 8601 with ``Z`` in REST (protocol.md §4.1), and bounded ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import AfterValidator, Field

__all__ = ["MAX_ID", "Id", "UtcTime", "iso", "to_utc", "utcnow"]

MAX_ID = 2**31 - 1
"""The largest id the database can hold: id columns are ``INTEGER`` (signed 32-bit on Postgres, whose driver
refuses a larger bound parameter with an error, a 500), so larger input never reaches a query."""

Id = Annotated[int, Field(gt=0, le=MAX_ID)]
"""Every id a request body carries."""


def to_utc(value: datetime) -> datetime:
    """An aware time in UTC (a naive one is returned as is, for the caller to refuse or assume UTC).

    Raises:
        ValueError: the time has no UTC equivalent within years 1-9999 (``0001-01-01T00:00+14:00``); unchecked,
            that overflow surfaced as a 500 when the value reached the database driver.
    """
    if value.utcoffset() is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range once converted to UTC") from None


UtcTime = Annotated[datetime, AfterValidator(to_utc)]
"""A time a request body carries, converted to UTC as it is parsed."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: datetime | None) -> str | None: ...
def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
