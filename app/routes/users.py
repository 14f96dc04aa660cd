"""``/api/users`` (the operator's) and ``/api/me`` (a user's own profile and password), protocol.md §4.2."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, client_address, path_id, state
from app.errors import ApiError, parse_body
from app.models import User
from app.models.people import PasswordChange, ProfileUpdate, UserCreate, UserUpdate
from app.models.views import UserProfile
from app.models.views_ops import UserPage
from app.openapi import PAGE, api
from app.pagination import page_of, paged
from app.passwords import HashingBusy
from app.responses import json_response
from app.services import users
from app.services.auth import retry_after
from app.services.revocation import close_revoked
from app.throttle import Throttled, reserve
from hub.auth import ConnectionMatch

__all__ = ["routes"]


async def _hash(request: Request, password: str) -> str:
    try:
        return await state(request).auth.passwords.hash(password)
    except HashingBusy as exc:
        raise ApiError(
            ErrorCode.UNAVAILABLE, "busy: retry shortly", status=503, headers=retry_after(exc.retry_after_s)
        ) from None


@api("List users", tags=["users"], responses={200: UserPage}, params=PAGE, roles=["admin", "manager"])
async def list_users(request: Request) -> Response:
    who = await actor(request)
    page = page_of(request)
    async with state(request).db.session() as session:
        rows = await users.list_users(session, who, page)
    return json_response(paged(rows, page, User.profile, key=lambda u: u.id or 0))


@api(
    "Create a user",
    tags=["users"],
    body=UserCreate,
    responses={201: UserProfile},
    errors=[ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE],
    roles=["admin", "manager"],
    description="Managers create staff and drivers only; staff need a truck_id; a taken username is 409.",
)
async def create_user(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, UserCreate)
    users.check_password(body.password, body.username)
    if not users.may_manage(who, body.role):  # before hashing: a refusal costs nothing
        raise ApiError(ErrorCode.FORBIDDEN, f"not allowed to create a{'n' * (body.role == 'admin')} {body.role}")
    password_hash = await _hash(request, body.password)
    async with state(request).db.session() as session:
        user = await users.create_user(session, body, who, password_hash)
    return json_response(user.profile(), 201)


@api("Read a user", tags=["users"], responses={200: UserProfile}, roles=["admin", "manager"])
async def get_user(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        user = await users.load_user(session, path_id(request), who)
    return json_response(user.profile())


async def _change(request: Request, patch: UserUpdate, action: str) -> Response:
    who = await actor(request)
    st = state(request)
    user_id = path_id(request)
    async with st.db.session() as session:
        target = await users.load_user(session, user_id, who)  # 404/403 before any hashing
    password_hash = None
    if patch.password is not None:
        users.check_password(patch.password, target.username)
        password_hash = await _hash(request, patch.password)
    async with st.db.session() as session:
        changed = await users.update_user(session, user_id, patch, who, password_hash=password_hash, action=action)
    if changed.revoked:
        await close_revoked(
            st.hub, st.sessions, ConnectionMatch(user_id=user_id), "your account was changed: log in again"
        )
    return json_response(changed.user.profile())


@api(
    "Change a user",
    tags=["users"],
    body=UserUpdate,
    responses={200: UserProfile},
    errors=[ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE],
    roles=["admin", "manager"],
    description="A change of role, truck, active flag or password revokes the user's tokens and closes their "
    "sockets 4401.",
)
async def patch_user(request: Request) -> Response:
    await actor(request)
    return await _change(request, await parse_body(request, UserUpdate), "user.update")


@api(
    "Deactivate a user", tags=["users"], responses={204: None}, errors=[ErrorCode.CONFLICT], roles=["admin", "manager"]
)
async def deactivate_user(request: Request) -> Response:
    """``DELETE`` keeps the row (tickets and the audit log still name their author): it deactivates."""
    await actor(request)
    await _change(request, UserUpdate(active=False), "user.deactivate")
    return Response(status_code=204)


@api("The current user", tags=["me"], responses={200: UserProfile})
async def me(request: Request) -> Response:
    claims = await actor(request)
    async with state(request).db.session() as session:
        user = await session.get(User, claims.user_id)
    return json_response(user.profile() if user is not None else claims.user())


@api("Change own profile", tags=["me"], body=ProfileUpdate, responses={200: UserProfile})
async def patch_me(request: Request) -> Response:
    claims = await actor(request)
    body = await parse_body(request, ProfileUpdate)
    async with state(request).db.session() as session:
        user = await users.update_profile(session, claims, body)
    return json_response(user.profile())


@api(
    "Change own password",
    tags=["me"],
    body=PasswordChange,
    responses={204: None},
    errors=[ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE],
)
async def change_password(request: Request) -> Response:
    """The current password proves it is the user (not someone holding an unlocked tablet); every other
    session of the user is revoked, the current one stays."""
    claims = await actor(request)
    body = await parse_body(request, PasswordChange)
    st = state(request)
    users.check_password(body.new_password, claims.username)
    try:
        attempt = await reserve(st.auth.throttle, claims.username, client_address(request), wait_s=st.auth.wait_s)
    except Throttled as exc:
        raise ApiError(
            ErrorCode.RATE_LIMITED, "too many wrong passwords: try later", headers=retry_after(exc.retry_after_s)
        ) from None
    async with st.db.session() as session:
        user = await session.get(User, claims.user_id)
    if user is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "no such user")
    try:
        verified = await st.auth.passwords.verify(user.password_hash, body.current_password)
        new_hash = await st.auth.passwords.hash(body.new_password) if verified.ok else ""
    except HashingBusy as exc:
        await st.auth.throttle.cancel(attempt)
        raise ApiError(
            ErrorCode.UNAVAILABLE, "busy: retry shortly", status=503, headers=retry_after(exc.retry_after_s)
        ) from None
    await st.auth.throttle.settle(attempt, succeeded=verified.ok)
    if not verified.ok:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            "current password is wrong",
            status=422,
            details=[{"field": "current_password", "problem": "wrong"}],
        )
    async with st.db.session() as session:
        revoked = await users.set_own_password(session, claims, new_hash)
    for session_id in revoked:
        await close_revoked(
            st.hub, st.sessions, ConnectionMatch(session_id=session_id), "password changed: log in again"
        )
    return Response(status_code=204)


routes = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/me", patch_me, methods=["PATCH"]),
    Route("/api/me/password", change_password, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{id:int}", get_user, methods=["GET"]),
    Route("/api/users/{id:int}", patch_user, methods=["PATCH"]),
    Route("/api/users/{id:int}", deactivate_user, methods=["DELETE"]),
]
