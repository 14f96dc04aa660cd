"""Login, refresh-token rotation, logout, and access-token checks against revoked sessions.

A login holds no database connection while the password is hashed: it takes its turn in the
hashing pool, reads the user, lets go of the connection, verifies, then opens a second short
transaction to create the session. Sixty slow logins therefore cannot starve the pool that tablets' reads need.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.db import Database
from app.errors import ApiError
from app.models import AuthSession, RefreshToken, User, utcnow
from app.passwords import HashingBusy, PasswordHashing
from app.security import AccessClaims, TokenError, TokenSigner, hash_refresh_token, new_refresh_token
from app.sessions import OpenSessions
from app.throttle import LoginThrottle, Throttled, reserve

__all__ = ["AuthService", "SessionRevoked", "TokenPair", "retry_after"]


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "user": self.user,
        }


class SessionRevoked(ApiError):
    """401 for a refresh token presented twice: the session was revoked, and its sockets must close now."""

    def __init__(self, session_id: str) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, "refresh token already used: session revoked")
        self.session_id = session_id


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}


def _busy(seconds: float) -> ApiError:
    return ApiError(
        ErrorCode.UNAVAILABLE, "too many logins at once: retry shortly", status=503, headers=retry_after(seconds)
    )


class AuthService:
    def __init__(
        self,
        *,
        signer: TokenSigner,
        passwords: PasswordHashing,
        throttle: LoginThrottle,
        refresh_ttl_s: int,
        open_sessions: OpenSessions,
        wait_s: float = 5.0,
    ) -> None:
        self.signer = signer
        self.passwords = passwords
        self.throttle = throttle
        self.refresh_ttl_s = refresh_ttl_s
        self.open_sessions = open_sessions
        """Whether a token's login session is still open: a fresh read for every check, batched."""
        self.wait_s = wait_s
        """How long a login may queue behind others (for a throttle place, then a hashing thread)."""

    async def login(self, db: Database, *, username: str, password: str, address: str) -> TokenPair:
        """Raises ApiError 429 when throttled, 503 when hashing is saturated, 401 on wrong credentials
        (the same answer, after the same work, for unknown and disabled users)."""
        username = username.strip().lower()
        try:
            attempt = await reserve(self.throttle, username, address, wait_s=self.wait_s)
        except Throttled as exc:
            if exc.busy:
                raise _busy(exc.retry_after_s) from None
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                "too many failed logins: try again later",
                headers=retry_after(exc.retry_after_s),
            ) from None
        try:
            async with self.passwords.turn() as turn:  # first: a burst of logins waits here, not on the loop
                async with db.session() as session:
                    user = (await session.exec(select(User).where(User.username == username))).first()
                verified = await turn.verify(user.password_hash if user else None, password)
        except HashingBusy as exc:
            await self.throttle.cancel(attempt)
            raise _busy(exc.retry_after_s) from None
        except BaseException:
            await self.throttle.cancel(attempt)
            raise
        if not verified.ok or user is None or not user.active:
            await self.throttle.settle(attempt, succeeded=False)
            raise ApiError(ErrorCode.UNAUTHORIZED, "wrong username or password")
        async with db.session() as session:
            if verified.rehashed is not None:  # stored with older argon2 parameters: upgrade it now
                await session.exec(
                    update(User)
                    .where(col(User.id) == user.id, col(User.password_hash) == user.password_hash)
                    .values(password_hash=verified.rehashed)
                )
            auth = AuthSession(id=secrets.token_hex(16), user_id=user.id or 0)
            session.add(auth)
            pair = await self._issue(session, user, auth.id)
            await session.commit()
        await self.throttle.settle(attempt, succeeded=True)
        return pair

    async def refresh(self, session: AsyncSession, *, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is used up. Presenting a used token again revokes the whole session.

        Raises:
            SessionRevoked: the token was already used; the session is now revoked (close its sockets).
            ApiError: 401 for any other bad token, a revoked session or a disabled user.
        """
        digest = hash_refresh_token(refresh_token)
        row = (await session.exec(select(RefreshToken).where(RefreshToken.token_hash == digest))).first()
        now = utcnow()
        if row is None or row.expires_at <= now:
            raise ApiError(ErrorCode.UNAUTHORIZED, "invalid or expired refresh token")
        auth = await session.get(AuthSession, row.session_id)
        if auth is None or auth.revoked_at is not None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "session revoked: log in again")
        if row.used_at is not None:  # reuse of a rotated token: assume theft, end the session
            auth.revoked_at = now
            await session.commit()
            raise SessionRevoked(auth.id)
        claimed = await session.exec(  # compare-and-set: two concurrent refreshes, one wins
            update(RefreshToken)
            .where(col(RefreshToken.id) == row.id, col(RefreshToken.used_at).is_(None))
            .values(used_at=now)
        )
        if claimed.rowcount != 1:
            raise ApiError(ErrorCode.UNAUTHORIZED, "refresh token already used")
        user = await session.get(User, auth.user_id)
        if user is None or not user.active:
            raise ApiError(ErrorCode.UNAUTHORIZED, "user disabled")
        pair = await self._issue(session, user, auth.id)
        await session.commit()
        return pair

    async def logout(self, session: AsyncSession, *, session_id: str) -> None:
        auth = await session.get(AuthSession, session_id)
        if auth is not None and auth.revoked_at is None:
            auth.revoked_at = utcnow()
            await session.commit()

    async def verify_access(self, token: str) -> AccessClaims:
        """Raises ApiError 401 for a bad, expired or revoked access token."""
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            raise ApiError(ErrorCode.UNAUTHORIZED, str(exc)) from None
        if not await self.open_sessions.is_open(claims.session_id):
            raise ApiError(ErrorCode.UNAUTHORIZED, "session revoked: log in again")
        return claims

    async def _issue(self, session: AsyncSession, user: User, session_id: str) -> TokenPair:
        access, _ = self.signer.issue(user=user.public(), session_id=session_id)
        refresh = new_refresh_token()
        session.add(
            RefreshToken(
                session_id=session_id,
                token_hash=hash_refresh_token(refresh),
                expires_at=utcnow() + timedelta(seconds=self.refresh_ttl_s),
            )
        )
        return TokenPair(access, refresh, self.signer.access_ttl_s, user.public())
