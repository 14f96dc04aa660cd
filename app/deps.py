"""Typed helpers every route uses: the state, the authenticated actor, a DB session, publishing."""

from __future__ import annotations

import re

from starlette.requests import Request

from app.codes import ErrorCode
from app.errors import ApiError
from app.models.common import MAX_ID
from app.security import AccessClaims
from app.services.events import OutEvent, publish_all
from app.state import app_state

__all__ = ["actor", "bearer_token", "client_address", "path_id", "publish", "query_id", "require_broker", "state"]

_RETRY_AFTER_S = "2"
_DIGITS = re.compile(r"[0-9]{1,19}")

state = app_state


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def actor(request: Request) -> AccessClaims:
    """The caller's verified claims (401 for a missing, bad, expired or revoked token)."""
    cached: AccessClaims | None = request.scope.get("fusionx.actor")
    if cached is not None:
        return cached
    token = bearer_token(request)
    st = app_state(request)
    async with st.db.session() as session:
        claims = await st.auth.verify_access(session, token)
    request.scope["fusionx.actor"] = claims
    return claims


def client_address(request: Request) -> str:
    """The client's address (uvicorn already took it from X-Forwarded-For when the peer is a trusted proxy)."""
    return request.client.host if request.client else "unknown"


def path_id(request: Request, name: str = "id") -> int:
    """An id from the path; beyond the database's range no such row can exist (404, not a database error)."""
    value = request.path_params[name]
    assert isinstance(value, int)
    if not 0 < value <= MAX_ID:
        raise ApiError(ErrorCode.NOT_FOUND, f"no such resource: id {str(value)[:24]} is out of range")
    return value


def query_id(request: Request, name: str) -> int:
    """A required positive id from the query string (400 when missing, malformed or out of range)."""
    raw = request.query_params.get(name, "")
    if not _DIGITS.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
        raise ApiError(ErrorCode.BAD_REQUEST, f"query parameter {name} (a positive integer id) is required")
    return int(raw)


def require_broker(request: Request) -> None:
    """Issue 6: a change that must be published is refused (503) while the broker is known to be down,
    before anything is written, rather than written and not delivered."""
    if not app_state(request).hub.broker_up:
        raise ApiError(
            ErrorCode.UNAVAILABLE,
            "the event broker is unreachable: nothing was saved, retry shortly",
            status=503,
            headers={"Retry-After": _RETRY_AFTER_S},
        )


async def publish(request: Request, events: list[OutEvent]) -> None:
    """Publish after commit, before responding (protocol.md §3 "No loss").

    If the broker fails between the commit and here, the events are queued in order and published as
    soon as it answers (``Hub.publish_all``): the change is saved, so the call still succeeds.
    """
    await publish_all(app_state(request).hub, events)
