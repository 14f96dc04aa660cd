"""Shared by models: aware UTC datetimes, ISO 8601 with ``Z`` in REST (protocol.md §4.1), and bounded ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import Field

__all__ = ["MAX_ID", "Id", "iso", "utcnow"]

MAX_ID = 2**31 - 1
"""The largest id every table can hold (Postgres ``integer`` primary keys are signed 32-bit): larger input
never reaches a query, so it is a clear 404/400 instead of a database error."""

Id = Annotated[int, Field(gt=0, le=MAX_ID)]
"""Every id a request body carries."""


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
