"""``@api(...)``: what a route handler takes and answers, attached to the handler itself.

The route module that defines a handler also states its contract next to it: the pydantic model
its body is parsed with, the view models of its answers, its error codes (from :mod:`app.codes`)
and the roles it admits. :mod:`app.openapi.generate` walks the Starlette routes and reads this; a
route without it fails ``tests/unit/test_openapi.py``, so the document cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from app.codes import ErrorCode
from app.models.auth import Role

__all__ = ["ATTRIBUTE", "KITCHEN", "PAGE", "Content", "Operation", "Param", "api", "operation_of", "query"]

ATTRIBUTE = "__openapi__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Content:
    """A non-JSON-model answer: a media type and its JSON schema (CSV, Prometheus text, a streamed export)."""

    media_type: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    """A query string or header parameter, documented (routes read these by hand)."""

    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False
    where: str = "query"


Response = type[BaseModel] | Content | tuple[Content, ...] | None
"""A model (JSON), other content (one or several media types), or None for an answer without a body (204)."""


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Response]
    description: str = ""
    body: type[BaseModel] | None = None
    body_required: bool = True
    params: tuple[Param, ...] = ()
    errors: tuple[ErrorCode, ...] = ()
    roles: tuple[Role, ...] | None = None
    """None: any authenticated user (ownership may still refuse: list FORBIDDEN in ``errors``)."""
    auth: bool = True


def api(
    summary: str,
    *,
    tags: Sequence[str],
    responses: Mapping[int, Response],
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    params: Sequence[Param] = (),
    errors: Sequence[ErrorCode] = (),
    roles: Sequence[Role] | None = None,
    auth: bool = True,
    description: str | None = None,
) -> Callable[[F], F]:
    """Attach an :class:`Operation` to a route handler; the handler is returned unchanged.

    Args:
        summary: one line for the operation's title.
        description: defaults to the handler's docstring (which says why the route is shaped so).
        errors: the codes this route itself raises; 401, 404 (path ids), 400/413/422 (bodies, queries)
            and 403 (``roles``) are added by the generator.
    """

    def attach(endpoint: F) -> F:
        text = description if description is not None else (endpoint.__doc__ or "")
        setattr(
            endpoint,
            ATTRIBUTE,
            Operation(
                summary=summary,
                tags=tuple(tags),
                responses=dict(responses),
                description=" ".join(text.split()),
                body=body,
                body_required=body_required,
                params=tuple(params),
                errors=tuple(errors),
                roles=tuple(roles) if roles is not None else None,
                auth=auth,
            ),
        )
        return endpoint

    return attach


def operation_of(endpoint: Callable[..., Any]) -> Operation | None:
    found = getattr(endpoint, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


def query(name: str, schema: Mapping[str, Any], description: str, *, required: bool = False) -> Param:
    return Param(name, schema, description, required)


KITCHEN: tuple[Role, ...] = ("admin", "manager", "staff")
"""Who may act on shifts, tickets and their reports: drivers never, staff on their own truck only."""

PAGE = (
    query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size"),
    query("cursor", {"type": "string", "maxLength": 64}, "`next_cursor` of the previous page"),
)
"""The two query parameters of every list (protocol.md §4.2)."""
