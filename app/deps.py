"""Typed helpers every route uses: the state, the authenticated actor, a DB session, publishing."""

from __future__ import annotations

from starlette.requests import Request

from app.errors import ApiError
from app.security import AccessClaims
from app.services.events import OutEvent, publish_all
from app.state import app_state
from hub.codes import ErrorCode

__all__ = ["actor", "bearer_token", "path_id", "publish", "require_broker", "state"]

_RETRY_AFTER_S = "2"

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


def path_id(request: Request, name: str = "id") -> int:
    value = request.path_params[name]
    assert isinstance(value, int)
    return value


def require_broker(request: Request) -> None:
    """Issue 6: a change that must be published is refused (503) while the broker is known to be down,
    before anything is written, rather than written and not delivered."""
    if not app_state(request).hub.broker.up:
        raise ApiError(
            ErrorCode.UNAVAILABLE,
            "the event broker is unreachable: nothing was saved, retry shortly",
            status=503,
            headers={"Retry-After": _RETRY_AFTER_S},
        )


async def publish(request: Request, events: list[OutEvent]) -> None:
    """Publish after commit, before responding (protocol.md §3 "No loss").

    If the broker fails between the commit and here, the events are queued in order and published as
    soon as it answers (``hub.redelivery``): the change is saved, so the call still succeeds.
    """
    await publish_all(app_state(request).hub, events)
