"""Shared by models: aware UTC datetimes, ISO 8601 with ``Z`` in REST (protocol.md §4.1), and bounded ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

__all__ = ["MAX_ID", "Id", "iso", "utcnow"]

MAX_ID = 2**31 - 1
"""The largest id the database can hold: id columns are ``INTEGER`` (signed 32-bit on Postgres, whose driver
refuses a larger bound parameter with an error, a 500), so larger input never reaches a query."""

Id = Annotated[int, Field(gt=0, le=MAX_ID)]
"""Every id a request body carries."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
