"""Devices registered by ``hello`` (protocol.md §2.1) with their ``last_seen``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.common import utcnow

__all__ = ["DEVICE_KINDS", "Device"]

DEVICE_KINDS = ("kds", "pos", "driver", "dashboard", "other")
"""What ``hello``'s ``device.kind`` and ``POST /api/devices`` accept (protocol.md §2.1)."""


class Device(SQLModel, table=True):
    __tablename__ = "devices"
    __table_args__ = (sa.UniqueConstraint("user_id", "device_id", name="uq_devices_user_device"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    device_id: str = Field(max_length=128)
    kind: str = Field(default="other", max_length=16)
    app: str | None = Field(default=None, max_length=128)
    last_seen: datetime = Field(default_factory=utcnow)
    online: bool = False
    push_token: str | None = Field(default=None, max_length=512)  # APNs/FCM token: stored, not used yet
    seen_via: str = Field(default="socket", max_length=16)  # "socket" or "heartbeat": how last_seen was kept
    created_at: datetime = Field(default_factory=utcnow)
