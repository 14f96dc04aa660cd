"""Signed access tokens (JWT, HS256) and refresh tokens. Password hashing lives in :mod:`app.passwords`."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import jwt
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from app.models.auth import Role

__all__ = ["AccessClaims", "TokenError", "TokenSigner", "UserPublic", "hash_refresh_token", "new_refresh_token"]


@with_config(ConfigDict(extra="forbid"))
class UserPublic(TypedDict):
    """protocol.md §4.1 user, as tokens and the socket's ``welcome`` carry it (its AsyncAPI schema)."""

    id: int
    username: str
    role: Role
    truck_id: int | None


_VERIFIED_MAX = 20_000  # tokens remembered as verified: a node's tablets and phones, and then some


class TokenError(Exception):
    """The token is malformed, badly signed, expired or of the wrong type."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: str
    username: str
    role: str
    truck_id: int | None
    expires_at: float

    def user(self) -> UserPublic:
        role = cast(Role, self.role)
        return {"id": self.user_id, "username": self.username, "role": role, "truck_id": self.truck_id}


class TokenSigner:
    def __init__(self, key: str, *, access_ttl_s: int) -> None:
        self._key = key
        self.access_ttl_s = access_ttl_s
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, *, user: dict[str, Any], session_id: str, now: float | None = None) -> tuple[str, float]:
        """Returns the access token and its expiry (epoch seconds)."""
        issued = time.time() if now is None else now
        expires = issued + self.access_ttl_s
        claims = {
            "typ": "access",
            "sub": str(user["id"]),
            "sid": session_id,
            "usr": user["username"],
            "role": user["role"],
            "truck": user["truck_id"],
            "iat": int(issued),
            "exp": expires,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), expires

    def verify(self, token: str) -> AccessClaims:
        """Raises TokenError for anything but a valid, unexpired access token.

        A token that verified once is remembered (bounded) until it expires: a tablet presents the same
        token on every hello, retry and REST call, and checking the signature again each time was a
        good part of what a reconnect storm cost. Its session is checked on every use regardless.
        """
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at <= time.time():
                del self._verified[token]
                raise TokenError("access token expired")
            return known
        claims = self._decode(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()  # bounded; refilled by the next uses
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            raw = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub", "sid"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("access token expired") from None
        except jwt.PyJWTError:
            raise TokenError("invalid access token") from None
        if raw.get("typ") != "access":
            raise TokenError("not an access token")
        try:
            truck = raw.get("truck")
            return AccessClaims(
                user_id=int(raw["sub"]),
                session_id=str(raw["sid"]),
                username=str(raw.get("usr", "")),
                role=str(raw.get("role", "")),
                truck_id=None if truck is None else int(truck),
                expires_at=float(raw["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            raise TokenError("invalid access token claims") from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are high-entropy random strings: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()
