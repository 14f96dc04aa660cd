"""``/api/auth/*``: login, refresh, logout (protocol.md §4)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, client_address, state
from app.errors import parse_body
from app.models.views import TokenPair
from app.models.views_ops import LoggedOut
from app.openapi import api
from app.responses import json_response
from app.services.auth import SessionRevoked
from app.services.revocation import close_revoked
from hub.auth import ConnectionMatch

__all__ = ["routes"]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    refresh_token: str = Field(min_length=1, max_length=256)


@api(
    "Log in",
    tags=["auth"],
    body=LoginIn,
    responses={200: TokenPair},
    errors=[ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE],
    auth=False,
    description="Wrong credentials are 401; repeated failures per username and per address 429 (docs/security.md).",
)
async def login(request: Request) -> Response:
    body = await parse_body(request, LoginIn)
    st = state(request)
    pair = await st.auth.login(st.db, username=body.username, password=body.password, address=client_address(request))
    return json_response(pair.public())


@api(
    "New token pair",
    tags=["auth"],
    body=RefreshIn,
    responses={200: TokenPair},
    errors=[ErrorCode.UNAUTHORIZED],
    auth=False,
    description="The old refresh token stops working; presenting it again revokes the whole session.",
)
async def refresh(request: Request) -> Response:
    body = await parse_body(request, RefreshIn)
    st = state(request)
    try:
        async with st.db.session() as session:
            pair = await st.auth.refresh(session, refresh_token=body.refresh_token)
    except SessionRevoked as exc:  # a stolen token was used: the session's sockets must not keep receiving
        await close_revoked(
            st.hub, st.sessions, ConnectionMatch(session_id=exc.session_id), "session revoked: log in again"
        )
        raise
    return json_response(pair.public())


@api("Log out", tags=["auth"], responses={200: LoggedOut})
async def logout(request: Request) -> Response:
    """Revokes the session of the presented token: its refresh tokens stop working, its sockets close 4401."""
    claims = await actor(request)
    st = state(request)
    async with st.db.session() as session:
        await st.auth.logout(session, session_id=claims.session_id)
    closed = await close_revoked(st.hub, st.sessions, ConnectionMatch(session_id=claims.session_id), "logged out")
    return json_response({"status": "logged_out", "closed_connections": closed})


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
]
