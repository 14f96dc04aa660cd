"""The REST error envelope ``{"error":{"code","message","details"}}`` (protocol.md §4) and its handlers."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import HTTP_STATUS, ErrorCode
from app.responses import json_response
from hub.broker.base import BrokerUnavailable
from hub.errors import HubError

__all__ = ["ApiError", "NoFields", "exception_handlers", "parse_body", "parse_optional_body"]

log = logging.getLogger("app.errors")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        status: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or HTTP_STATUS[code]
        self.details = details
        self.headers = headers


def _envelope(code: ErrorCode, message: str, status: int, details: Any = None, headers: Any = None) -> Response:
    return json_response({"error": {"code": code.value, "message": message, "details": details}}, status, headers)


MAX_BODY_BYTES = 1 << 20


def _too_large() -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, f"body larger than {MAX_BODY_BYTES} bytes", status=413)


async def parse_body(request: Request, model: type[M]) -> M:
    """Read a JSON body into ``model``: 400 for malformed JSON, 422 with field details for invalid fields."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    if not raw:
        raise ApiError(ErrorCode.BAD_REQUEST, "a JSON body is required")
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(ErrorCode.BAD_REQUEST, "body is not valid JSON") from None
        details = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in exc.errors()]
        raise ApiError(ErrorCode.BAD_REQUEST, "invalid fields", status=422, details=details) from None
    if b"\\u0000" in raw:  # cheap pre-check: a NUL can only arrive escaped in valid JSON
        _refuse_nul(parsed.model_dump(), "")
    return parsed


def _refuse_nul(value: Any, at: str) -> None:
    """Postgres text cannot hold NUL: stored, or only compared in a query, it is a database error (a 500)."""
    if isinstance(value, str) and "\x00" in value:
        details = [{"field": at, "problem": "NUL characters are not allowed"}]
        raise ApiError(ErrorCode.BAD_REQUEST, "invalid fields", status=422, details=details)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        _refuse_nul(inner, f"{at}.{key}" if at else str(key))


class NoFields(BaseModel):
    """The body of an action that takes no parameters: absent, or an empty JSON object."""

    model_config = ConfigDict(extra="forbid")


async def parse_optional_body(request: Request, model: type[M]) -> M | None:
    """Like :func:`parse_body`, but an absent body is allowed (None); a present one must be valid."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    if not (await request.body()).strip():
        return None
    return await parse_body(request, model)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _envelope(exc.code, exc.message, exc.status, exc.details, exc.headers)


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    code = ErrorCode(exc.code.value)  # the core's codes are a subset of the REST API's
    return _envelope(code, exc.message, HTTP_STATUS.get(code, 400))


_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.BAD_REQUEST,
    409: ErrorCode.CONFLICT,
    429: ErrorCode.RATE_LIMITED,
}


def _allowed(request: Request) -> str:
    """Every method of every route on this path: Starlette's 405 names only the first route's methods, and a
    path such as ``/api/trucks`` is served by one route per method (RFC 9110 §15.5.6: Allow lists them all)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.fullmatch(request.scope["path"]):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INTERNAL if exc.status_code >= 500 else ErrorCode.BAD_REQUEST)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed(request) or (headers or {}).get("Allow", "")}
    return _envelope(code, str(exc.detail), exc.status_code, headers=headers)


async def _broker_down(request: Request, exc: Exception) -> Response:
    """A read that needs the broker (a topic's seq, shared positions or presence) while Redis is unreachable."""
    return _envelope(
        ErrorCode.UNAVAILABLE, "the event broker is unreachable: retry shortly", 503, headers={"Retry-After": "2"}
    )


# SQLSTATEs worth a retry: connection exceptions (08…), lock and statement timeouts, the server
# shutting down or out of connections, serialization failures and deadlocks.
_TRANSIENT_SQLSTATES = frozenset({"55P03", "57014", "57P01", "57P02", "57P03", "53300", "40001", "40P01"})


def _transient(exc: DBAPIError) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
        return True
    state = str(getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None) or "")
    return state.startswith("08") or state in _TRANSIENT_SQLSTATES


async def _database_trouble(request: Request, exc: Exception) -> Response:
    """The database is unreachable, too slow, or out of connections: 503 and retry, never a 500.

    Other database errors (a constraint nobody expected) stay bugs: 500 with a traceback.
    """
    if isinstance(exc, DBAPIError) and not _transient(exc):
        return await _unexpected(request, exc)
    log.warning("database trouble on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return _envelope(
        ErrorCode.UNAVAILABLE, "the database is unreachable or busy: retry shortly", 503, headers={"Retry-After": "2"}
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _envelope(ErrorCode.INTERNAL, "internal error", 500)


exception_handlers: dict[Any, Any] = {
    ApiError: _api_error,
    HubError: _hub_error,
    BrokerUnavailable: _broker_down,
    DBAPIError: _database_trouble,
    PoolTimeout: _database_trouble,
    OSError: _database_trouble,
    TimeoutError: _database_trouble,
    HTTPException: _http_error,
    Exception: _unexpected,
}
