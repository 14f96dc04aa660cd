"""Who may act on which truck (protocol.md §1): staff only on their own truck, admin/manager on all."""

from __future__ import annotations

from app.codes import ErrorCode
from app.errors import ApiError
from app.security import AccessClaims

__all__ = ["require_manager", "require_truck_access"]

_EVERYTHING = frozenset({"admin", "manager"})


def require_truck_access(actor: AccessClaims, truck_id: int) -> None:
    if actor.role in _EVERYTHING:
        return
    if actor.role == "staff" and actor.truck_id == truck_id:
        return
    raise ApiError(ErrorCode.FORBIDDEN, f"not allowed to act on truck {truck_id}")


def require_manager(actor: AccessClaims) -> None:
    if actor.role not in _EVERYTHING:
        raise ApiError(ErrorCode.FORBIDDEN, "admins and managers only")
