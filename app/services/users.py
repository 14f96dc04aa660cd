"""Users managed by the operator (protocol.md §4.2): who may manage whom, changes that revoke, the audit trail.

Admins manage everyone; managers manage staff and drivers only, and may not make anyone an
admin or a manager. A change of role, truck, active flag or password takes authority away:
it revokes every session of the user in the same transaction (the route then closes their
sockets everywhere). Concurrent edits of one user compare-and-set on its ``version``, so each
audit row's ``old`` is exactly the state the change replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import Truck, User, utcnow
from app.models.people import ProfileUpdate, UserCreate, UserUpdate
from app.pagination import Page
from app.password_policy import password_problem
from app.security import AccessClaims
from app.services import audit
from app.services.revocation import revoke_sessions

__all__ = [
    "Changed",
    "check_password",
    "create_user",
    "list_users",
    "load_user",
    "may_manage",
    "set_own_password",
    "update_profile",
    "update_user",
]

_PRIVILEGED = frozenset({"admin", "manager"})
_AUTHORITY = ("role", "truck_id", "active", "password")
_MAX_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Changed:
    user: User
    revoked: bool
    """The user's sessions were revoked: close their sockets once committed."""


def may_manage(actor: AccessClaims, role: str) -> bool:
    return actor.role == "admin" or (actor.role == "manager" and role not in _PRIVILEGED)


def _require_manager_of(actor: AccessClaims, role: str) -> None:
    if actor.role not in _PRIVILEGED:
        raise ApiError(ErrorCode.FORBIDDEN, "admins and managers only")
    if not may_manage(actor, role):
        raise ApiError(
            ErrorCode.FORBIDDEN, f"managers manage staff and drivers only, not a{'n' * (role == 'admin')} {role}"
        )


def check_password(password: str, username: str) -> None:
    problem = password_problem(password, username=username)
    if problem is not None:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"password {problem}",
            status=422,
            details=[{"field": "password", "problem": problem}],
        )


async def _check_truck(session: AsyncSession, role: str, truck_id: int | None) -> None:
    if role == "staff" and truck_id is None:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            "staff need a truck_id",
            status=422,
            details=[{"field": "truck_id", "problem": "required for staff"}],
        )
    if truck_id is not None:
        truck = await session.get(Truck, truck_id)
        if truck is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no truck {truck_id}")
        if not truck.active:
            raise ApiError(ErrorCode.CONFLICT, f"truck {truck_id} is inactive")


async def load_user(session: AsyncSession, user_id: int, actor: AccessClaims) -> User:
    """The user, if it exists (404) and ``actor`` may see it: admins anyone, managers staff and drivers."""
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no user {user_id}")
    if actor.user_id != user_id:
        _require_manager_of(actor, user.role)
    return user


async def list_users(session: AsyncSession, actor: AccessClaims, page: Page) -> list[User]:
    if actor.role not in _PRIVILEGED:
        raise ApiError(ErrorCode.FORBIDDEN, "admins and managers only")
    statement = select(User).order_by(col(User.id)).limit(page.limit + 1)
    if page.after is not None:
        statement = statement.where(col(User.id) > page.after)
    if actor.role == "manager":
        statement = statement.where(col(User.role).not_in(_PRIVILEGED))
    return list((await session.exec(statement)).all())


async def create_user(session: AsyncSession, body: UserCreate, actor: AccessClaims | None, password_hash: str) -> User:
    """``actor`` None: the command line (no one to check; audited as such). The password was checked and hashed."""
    if actor is not None:
        _require_manager_of(actor, body.role)
    await _check_truck(session, body.role, body.truck_id)
    user = User(
        username=body.username,
        password_hash=password_hash,
        role=body.role,
        truck_id=body.truck_id,
        display_name=body.display_name,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise ApiError(ErrorCode.CONFLICT, f"username {body.username!r} is taken") from None
    assert user.id is not None
    audit.record(
        session,
        actor.user_id if actor else None,
        "user.create",
        f"user:{user.id}",
        new=user.profile(),
        truck_id=user.truck_id,
        restricted=user.role in _PRIVILEGED,
    )
    await session.commit()
    return user


async def update_user(
    session: AsyncSession,
    user_id: int,
    patch: UserUpdate,
    actor: AccessClaims | None,
    *,
    password_hash: str | None = None,
    action: str = "user.update",
) -> Changed:
    """Apply ``patch`` (its password already checked and hashed into ``password_hash``) with a compare-and-set."""
    changes = patch.model_dump(exclude_unset=True, exclude={"password"})
    for _ in range(_MAX_RETRIES):
        user = await session.get(User, user_id, populate_existing=True)
        if user is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no user {user_id}")
        if actor is not None:
            _require_manager_of(actor, user.role)
            if "role" in changes and changes["role"] is not None:
                _require_manager_of(actor, changes["role"])
        new = _merged(user, changes)
        await _check_truck(session, new["role"], new["truck_id"])
        await _keep_an_admin(session, user, new)
        done = await _write(session, user, new, changes, actor, password_hash, action)
        if done is not None:
            return done
        await session.rollback()  # someone else changed the user meanwhile: read again
    raise ApiError(ErrorCode.CONFLICT, f"user {user_id} is being changed by someone else: retry")


def _merged(user: User, changes: dict[str, Any]) -> dict[str, Any]:
    new = {"role": user.role, "truck_id": user.truck_id, "display_name": user.display_name, "active": user.active}
    for field, value in changes.items():
        if value is None and field in ("role", "active"):
            raise ApiError(ErrorCode.BAD_REQUEST, f"{field} cannot be null", status=422)
        new[field] = value
    return new


async def _keep_an_admin(session: AsyncSession, user: User, new: dict[str, Any]) -> None:
    """The last active admin cannot be demoted or deactivated: nobody could manage the hub any more."""
    if user.role != "admin" or not user.active or (new["role"] == "admin" and new["active"]):
        return
    others = await session.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", col(User.active).is_(True), User.id != user.id)
    )
    if others.one() == 0:
        raise ApiError(ErrorCode.CONFLICT, "this is the last active admin: make another admin first")


async def _write(
    session: AsyncSession,
    user: User,
    new: dict[str, Any],
    changes: dict[str, Any],
    actor: AccessClaims | None,
    password_hash: str | None,
    action: str,
) -> Changed | None:
    old_view = user.profile()
    if password_hash is None and all(new[field] == old_view[field] for field in new):
        return Changed(user, revoked=False)  # nothing to change: nothing to write or audit
    values: dict[str, Any] = {**new, "version": user.version + 1, "updated_at": utcnow()}
    if password_hash is not None:
        values["password_hash"] = password_hash
    result = await session.exec(
        update(User).where(col(User.id) == user.id, col(User.version) == user.version).values(**values)
    )
    if result.rowcount != 1:
        return None
    authority = password_hash is not None or any(
        field in changes and new[field] != old_view[field] for field in _AUTHORITY if field != "password"
    )
    revoked = authority and not (set(changes) == {"active"} and new["active"])  # reactivating revokes nothing
    if revoked:
        assert user.id is not None
        await revoke_sessions(session, user_id=user.id)
    await session.refresh(user)
    new_view = user.profile()
    if password_hash is not None:
        new_view["password"] = "changed"
    audit.record(
        session,
        actor.user_id if actor else None,
        action,
        f"user:{user.id}",
        old=old_view,
        new=new_view,
        truck_id=user.truck_id or old_view["truck_id"],
        restricted=old_view["role"] in _PRIVILEGED or user.role in _PRIVILEGED,
    )
    await session.commit()
    return Changed(user, revoked)


async def update_profile(session: AsyncSession, actor: AccessClaims, body: ProfileUpdate) -> User:
    """A user's own display name, phone and notification channel: no authority changes, nothing revoked."""
    user = await session.get(User, actor.user_id, populate_existing=True)
    if user is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "no such user")
    old = user.profile()
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field == "notification_channel":
            raise ApiError(ErrorCode.BAD_REQUEST, "notification_channel cannot be null", status=422)
        setattr(user, field, value)
    user.version += 1
    user.updated_at = utcnow()
    session.add(user)
    audit.record(session, user.id, "me.update", f"user:{user.id}", old=old, new=user.profile(), truck_id=user.truck_id)
    await session.commit()
    return user


async def set_own_password(session: AsyncSession, actor: AccessClaims, password_hash: str) -> list[str]:
    """Store the new hash and revoke the user's other sessions; returns the revoked session ids."""
    await session.exec(
        update(User)
        .where(col(User.id) == actor.user_id)
        .values(password_hash=password_hash, version=col(User.version) + 1, updated_at=utcnow())
    )
    revoked = await revoke_sessions(session, user_id=actor.user_id, keep=actor.session_id)
    audit.record(session, actor.user_id, "me.password", f"user:{actor.user_id}", new={"password": "changed"})
    await session.commit()
    return revoked
