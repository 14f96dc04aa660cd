"""Users, login sessions and rotating refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlmodel import Field, SQLModel

from app.models.common import iso, utcnow

__all__ = ["ROLES", "AuthSession", "NotificationChannel", "RefreshToken", "Role", "User"]

Role = Literal["admin", "manager", "staff", "driver"]
ROLES: frozenset[str] = frozenset({"admin", "manager", "staff", "driver"})
NotificationChannel = Literal["none", "sms", "email", "push"]


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    truck_id: int | None = Field(default=None, foreign_key="trucks.id")
    active: bool = True
    display_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    notification_channel: str = Field(default="none", max_length=16)
    version: int = 0  # bumped by every change: concurrent edits compare-and-set on it
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def public(self) -> dict[str, Any]:
        """protocol.md §4.1 user: ``{id, username, role, truck_id}`` (what tokens and ``welcome`` carry)."""
        return {"id": self.id, "username": self.username, "role": self.role, "truck_id": self.truck_id}

    def profile(self) -> dict[str, Any]:
        """The user as the operator's routes and ``/api/me`` show it: the contract's fields and the rest."""
        return {
            **self.public(),
            "display_name": self.display_name,
            "active": self.active,
            "phone": self.phone,
            "notification_channel": self.notification_channel,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class AuthSession(SQLModel, table=True):
    """One login. Logout or refresh-token reuse revokes it, and with it every token it issued."""

    __tablename__ = "auth_sessions"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(default=None, index=True)


class RefreshToken(SQLModel, table=True):
    """Only a SHA-256 of the token is stored. A used token is kept to detect reuse (theft)."""

    __tablename__ = "refresh_tokens"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="auth_sessions.id", index=True, max_length=32)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
