"""Writing and reading the audit log.

:func:`record` adds the entry to the caller's session, so it commits (or rolls back) with the
change it describes: an audit row never exists without its change, nor a change without its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import AuditEntry
from app.pagination import Page
from app.security import AccessClaims

__all__ = ["AuditQuery", "record", "search"]


def record(
    session: AsyncSession,
    actor_id: int | None,
    action: str,
    target: str,
    *,
    old: Any = None,
    new: Any = None,
    truck_id: int | None = None,
    restricted: bool = False,
) -> None:
    """Add one entry to the caller's transaction.

    Args:
        actor_id: who acted; None for the command line.
        action: ``noun.verb`` (``user.create``, ``menu.item.update``, ``ticket.cancel`` …).
        target: ``kind:id`` of the record changed (``user:5``, ``truck:1``, ``shift:3``).
        truck_id: the truck the change concerns (managers tied to a truck see only its rows).
        restricted: a change to an admin or manager account (only admins read these).
    """
    session.add(
        AuditEntry(
            actor_id=actor_id,
            action=action,
            target=target,
            old=old,
            new=new,
            truck_id=truck_id,
            restricted=restricted,
        )
    )


class AuditQuery:
    """The filters of ``GET /api/audit``; ``action`` ending in ``.`` matches every action under that prefix."""

    def __init__(
        self,
        *,
        actor_id: int | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self.actor_id, self.action, self.target = actor_id, action, target
        self.since, self.until = since, until


async def search(session: AsyncSession, viewer: AccessClaims, query: AuditQuery, page: Page) -> list[AuditEntry]:
    """Entries newest first, as much as ``viewer`` may read: admins everything; managers the fleet's
    rows (only their truck's when they are tied to one), never changes to admin or manager accounts."""
    if viewer.role not in ("admin", "manager"):
        raise ApiError(ErrorCode.FORBIDDEN, "the audit log is for admins and managers")
    statement = select(AuditEntry)
    if viewer.role == "manager":
        statement = statement.where(col(AuditEntry.restricted).is_(False))
        if viewer.truck_id is not None:
            statement = statement.where(AuditEntry.truck_id == viewer.truck_id)
    if query.actor_id is not None:
        statement = statement.where(AuditEntry.actor_id == query.actor_id)
    if query.action is not None:
        if query.action.endswith("."):
            statement = statement.where(col(AuditEntry.action).startswith(query.action, autoescape=True))
        else:
            statement = statement.where(AuditEntry.action == query.action)
    if query.target is not None:
        statement = statement.where(AuditEntry.target == query.target)
    if query.since is not None:
        statement = statement.where(col(AuditEntry.at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditEntry.at) < query.until)
    if page.after is not None:
        statement = statement.where(col(AuditEntry.id) < page.after)
    statement = statement.order_by(col(AuditEntry.id).desc()).limit(page.limit + 1)
    return list((await session.exec(statement)).all())
