"""The REST side (protocol.md §4): login, token refresh before expiry, logout, and typed errors.

``Api`` is also the socket's token source: one object owns the token pair, and a lock makes sure
only one refresh is in flight. That matters because refresh tokens rotate and the hub treats a
rotated token presented twice as theft (it revokes the whole session).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from hub_client.errors import ApiError, HubUnreachable, LoginRequired

__all__ = ["Api", "StaticToken", "TokenProvider", "Tokens"]


class TokenProvider(Protocol):
    """Where a socket gets its access token; ``Api`` after a login, or ``StaticToken``."""

    async def access_token(self) -> str:
        """A valid access token, refreshed first when ``refresh_due()`` has passed."""
        ...

    async def renew(self) -> str:
        """Refresh now (the hub said 4401); raises ``LoginRequired`` when that is not possible."""
        ...

    def refresh_due(self) -> float | None:
        """``time.monotonic()`` after which ``access_token()`` refreshes; None: never."""
        ...


class StaticToken:
    """A bare access token (e.g. pasted from ``curl``): used until it expires, never refreshed."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self) -> str:
        return self.token

    async def renew(self) -> str:
        raise LoginRequired("the access token was refused and there is no refresh token: log in again")

    def refresh_due(self) -> float | None:
        return None


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: float
    user: dict[str, Any]
    refresh_at: float
    """``time.monotonic()`` at which to refresh: a quarter of the lifetime (at most 60 s) before expiry."""

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Tokens:
        ttl = float(body["expires_in"])
        margin = min(60.0, max(1.0, ttl / 4))
        at = time.monotonic() + max(0.0, ttl - margin)
        return cls(body["access_token"], body["refresh_token"], ttl, dict(body["user"]), at)


class Api:
    """An async REST client for one hub, e.g. ``Api("http://127.0.0.1:8000")``.

    Every call raises ``ApiError`` (with the contract's ``code``, ``status`` and ``retry_after``)
    for an error answer, and ``HubUnreachable`` when nothing answers.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.tokens: Tokens | None = None
        self.refreshes = 0
        """How many refreshes succeeded (diagnostics, tests)."""
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._lock = asyncio.Lock()

    @property
    def ws_url(self) -> str:
        """The socket endpoint of the same hub: ``ws://host:port/ws`` (``wss://`` behind https)."""
        return "ws" + self.base_url.removeprefix("http") + "/ws"

    @property
    def user(self) -> dict[str, Any]:
        if self.tokens is None:
            raise LoginRequired("not logged in")
        return self.tokens.user

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in; returns the user (``{id, username, role, truck_id}``)."""
        body = await self.request(
            "POST", "/api/auth/login", json={"username": username, "password": password}, auth=False
        )
        self.tokens = Tokens.from_body(body)
        return self.tokens.user

    async def logout(self) -> None:
        """Revoke this session (its sockets close 4401) and forget the tokens."""
        try:
            await self.request("POST", "/api/auth/logout")
        finally:
            self.tokens = None

    async def access_token(self) -> str:
        tokens = self.tokens
        if tokens is None:
            raise LoginRequired("not logged in")
        if time.monotonic() < tokens.refresh_at:
            return tokens.access_token
        return await self._refresh(tokens)

    async def renew(self) -> str:
        if self.tokens is None:
            raise LoginRequired("not logged in")
        return await self._refresh(self.tokens)

    def refresh_due(self) -> float | None:
        return None if self.tokens is None else self.tokens.refresh_at

    async def _refresh(self, seen: Tokens) -> str:
        async with self._lock:
            # Whoever waited on the lock finds the pair already rotated: use it, never present the old one.
            if self.tokens is not seen and self.tokens is not None:
                return self.tokens.access_token
            try:
                body = await self.request(
                    "POST", "/api/auth/refresh", json={"refresh_token": seen.refresh_token}, auth=False
                )
            except ApiError as exc:
                if exc.status in (400, 401, 422):
                    self.tokens = None
                    raise LoginRequired(f"session ended ({exc.message}): log in again") from None
                raise
            self.tokens = Tokens.from_body(body)
            self.refreshes += 1
            return self.tokens.access_token

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """One call; returns the decoded JSON body (None when empty).

        Raises:
            ApiError: the hub answered with an error status.
            HubUnreachable: no answer (refused, timed out).
            LoginRequired: the session ended and cannot be refreshed.
        """
        response = await self._send(method, path, json, params, headers, auth)
        if response.status_code == 401 and auth and self.tokens is not None:
            await self.renew()  # the hub may have expired the token a little early (clock skew): one retry
            response = await self._send(method, path, json, params, headers, auth)
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None

    async def _send(
        self, method: str, path: str, json: Any, params: Any, headers: dict[str, str] | None, auth: bool
    ) -> httpx.Response:
        sent = dict(headers or {})
        if auth:
            sent["Authorization"] = f"Bearer {await self.access_token()}"
        try:
            return await self._http.request(method, path, json=json, params=params, headers=sent)
        except httpx.TransportError as exc:
            raise HubUnreachable(self.base_url, str(exc) or type(exc).__name__) from None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        return await self.request("POST", path, json=json, headers=headers)

    async def patch(self, path: str, json: Any) -> Any:
        return await self.request("PATCH", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)


def _error(response: httpx.Response) -> ApiError:
    """The contract's envelope ``{"error":{code,message,details}}``; anything else (a proxy's 502) as ``http_NNN``."""
    retry = response.headers.get("Retry-After")
    retry_after = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
    try:
        envelope = response.json()["error"]
        code, message, details = str(envelope["code"]), str(envelope["message"]), envelope.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http_{response.status_code}", response.text[:200], None
    return ApiError(code, response.status_code, message, details=details, retry_after=retry_after)
