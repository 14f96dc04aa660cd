"""Typed helpers every route uses: the state, the authenticated actor, ids, delivering a write's events."""

from __future__ import annotations

import asyncio
import logging
import os
import re

from starlette.requests import Request

from app.codes import ErrorCode
from app.errors import ApiError
from app.models.common import MAX_ID
from app.security import AccessClaims
from app.state import app_state
from hub.broker.base import BrokerUnavailable

__all__ = ["actor", "bearer_token", "client_address", "deliver", "path_id", "query_id", "state"]

log = logging.getLogger("app")
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
    claims = await st.auth.verify_access(token)
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


async def publish_pending(request: Request, shift_id: int) -> None:
    """Under the shift's lock, before reading rows and a topic position that must agree: publish what is
    committed and still in the outbox (another request's, in flight outside the lock), so the position
    covers every change the read can see. Raises BrokerUnavailable when the broker refuses."""
    if not await app_state(request).relay.flush(shift_id):
        raise BrokerUnavailable("committed events are waiting for the broker")


async def deliver(request: Request, shift_id: int) -> dict[str, str] | None:
    """After a write on ``shift_id`` committed (its events staged in the outbox) and the shift's lock was
    released: publish them now; the headers for the response.

    Outside the lock, so the next write on the shift need not wait for this publish; flushes may then
    overlap (this one, another request's, a snapshot's), which is safe: each publishes the shift's
    pending rows in id order, ids follow commit order (the lock covers each commit), and the broker
    skips a row already published (its guard).

    The change is committed whatever happens here: a broker that is down, or a database that fails
    after the commit, leaves the events for the relay's sweep (any node) and the caller is told
    ``Hub-Delivery: pending`` rather than an error it might retry into a second order.
    """
    st = app_state(request)
    fault = st.settings.fault
    if fault == "exit-after-commit":
        log.warning("HUB_FAULT: exiting between a commit and its publish")
        os._exit(70)
    if fault.startswith("stall-after-commit:"):
        await asyncio.sleep(float(fault.partition(":")[2]))
    try:
        published = await st.relay.flush(shift_id)
    except Exception as exc:  # committed already: the sweep publishes it once the database answers again
        log.warning("publishing shift %d's events after commit failed (%s); the relay will retry", shift_id, exc)
        published = False
    return None if published else {"Hub-Delivery": "pending"}
