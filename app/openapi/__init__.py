"""OpenAPI 3.1 for the REST API: ``@api`` metadata on route handlers (``meta``) and the generator (``generate``)."""

from __future__ import annotations

from app.openapi.generate import UndocumentedRoute, api_routes, openapi_document
from app.openapi.meta import KITCHEN, PAGE, Content, Operation, Param, api, operation_of, query

__all__ = [
    "KITCHEN",
    "PAGE",
    "Content",
    "Operation",
    "Param",
    "UndocumentedRoute",
    "api",
    "api_routes",
    "openapi_document",
    "operation_of",
    "query",
]
