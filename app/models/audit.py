"""The audit log: who did what to which record, when, with the old and new values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from app.models.common import iso, utcnow

__all__ = ["AuditEntry"]


class AuditEntry(SQLModel, table=True):
    """Written in the same transaction as the change it records, so neither exists without the other.

    ``actor_id`` is null for changes made from the command line. ``truck_id`` names the truck the change
    concerns (null: the whole fleet); ``restricted`` marks changes to admin and manager accounts, which
    only admins may read.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_actor", "actor_id", "id"),
        sa.Index("ix_audit_log_action", "action", "id"),
        sa.Index("ix_audit_log_target", "target", "id"),
        sa.Index("ix_audit_log_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    action: str = Field(max_length=48)
    target: str = Field(max_length=160)
    truck_id: int | None = Field(default=None)
    restricted: bool = False
    old: Any = Field(default=None, sa_column=Column(JSON))
    new: Any = Field(default=None, sa_column=Column(JSON))

    def public(self) -> dict[str, Any]:
        """protocol.md §4.2: ``{id, at, actor_id, action, target, old, new}``."""
        return {
            "id": self.id,
            "at": iso(self.at),
            "actor_id": self.actor_id,
            "action": self.action,
            "target": self.target,
            "truck_id": self.truck_id,
            "old": self.old,
            "new": self.new,
        }
