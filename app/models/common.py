"""Time helpers shared by models: aware UTC datetimes, ISO 8601 with ``Z`` in REST (protocol.md §4.1)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
