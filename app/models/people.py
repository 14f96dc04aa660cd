"""Request bodies of the operator's user routes and of a user's own profile (protocol.md §4.2)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.models.auth import NotificationChannel, Role
from app.models.common import Id

__all__ = ["PasswordChange", "ProfileUpdate", "UserCreate", "UserUpdate"]

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
"""Lower case: usernames compare as typed on a tablet keyboard, whatever its shift key did."""
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ().-]{3,30}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Strict):
    username: Username
    password: Password
    role: Role
    truck_id: Id | None = None
    display_name: DisplayName | None = None


class UserUpdate(_Strict):
    """Every field optional; ``truck_id: null`` unties the user from a truck (not allowed for staff)."""

    role: Role | None = None
    truck_id: Id | None = None
    display_name: DisplayName | None = None
    active: bool | None = None
    password: Password | None = None


class ProfileUpdate(_Strict):
    display_name: DisplayName | None = None
    phone: Phone | None = None
    notification_channel: NotificationChannel | None = None


class PasswordChange(_Strict):
    current_password: Password
    new_password: Password
