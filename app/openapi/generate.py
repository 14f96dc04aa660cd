"""The OpenAPI 3.1 document, generated from the Starlette routes and the ``@api`` metadata on their handlers.

Bodies are the pydantic models the handlers parse with (validation schemas), answers the view models
(serialization schemas); pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is, so every
model goes to ``components/schemas`` untouched. Path parameters come from the route's own convertors.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.convertors import IntegerConvertor
from starlette.routing import BaseRoute, Route

from app.codes import HTTP_STATUS, ErrorCode
from app.models.common import MAX_ID
from app.models.views import ErrorEnvelope
from app.openapi.meta import Content, Operation, Param, operation_of

__all__ = ["UndocumentedRoute", "api_routes", "openapi_document"]

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"

EXPLAIN: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "malformed or invalid input (400; 422 with field details; 413 for a body over 1 MiB)",
    ErrorCode.UNAUTHORIZED: "missing, bad, expired or revoked token",
    ErrorCode.FORBIDDEN: "the role or the truck does not allow it",
    ErrorCode.NOT_FOUND: "no such resource",
    ErrorCode.RATE_LIMITED: "too many attempts: see Retry-After",
    ErrorCode.INTERNAL: "the server's own fault",
    ErrorCode.CONFLICT: "the change conflicts with the current state",
    ErrorCode.SHIFT_OPEN: "the truck already has an open shift",
    ErrorCode.INVALID_TRANSITION: "not allowed from the current status",
    ErrorCode.SOLD_OUT: "an item ran out",
    ErrorCode.SHIFT_NOT_ACCEPTING: "the shift is paused or closed",
    ErrorCode.THROTTLED: "the time slot is full",
    ErrorCode.UNAVAILABLE: "the event broker or password hashing is busy or down: see Retry-After",
}


class UndocumentedRoute(ValueError):
    """An API route whose handler carries no ``@api`` metadata."""


def api_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    """The routes the document covers: plain ``Route``s not excluded with ``include_in_schema=False``."""
    return [r for r in routes if isinstance(r, Route) and r.include_in_schema]


def _path_param(name: str, convertor: object) -> dict[str, Any]:
    if isinstance(convertor, IntegerConvertor):
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    else:
        schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _param(param: Param) -> dict[str, Any]:
    out = {"name": param.name, "in": param.where, "schema": dict(param.schema), "description": param.description}
    return out | {"required": True} if param.required else out


def _codes(op: Operation, route: Route) -> dict[int, list[ErrorCode]]:
    """Every error status the operation may answer, with its codes: the route's own and the implied ones."""
    codes = list(op.errors)
    if op.auth:
        codes.append(ErrorCode.UNAUTHORIZED)
    if op.roles is not None:
        codes.append(ErrorCode.FORBIDDEN)
    if route.param_convertors:
        codes.append(ErrorCode.NOT_FOUND)
    if op.body is not None or op.params or route.param_convertors:
        codes.append(ErrorCode.BAD_REQUEST)  # a path may carry a NUL character (app.middleware.RefuseNul)
    by_status: dict[int, list[ErrorCode]] = {}
    for code in dict.fromkeys(codes):
        statuses = [HTTP_STATUS[code]]
        if code is ErrorCode.BAD_REQUEST and op.body is not None:
            statuses += [413, 422]
        for status in statuses:
            by_status.setdefault(status, []).append(code)
    return by_status


def _error_response(codes: list[ErrorCode]) -> dict[str, Any]:
    text = "; ".join(f"`{code.value}`: {EXPLAIN[code]}" for code in codes)
    schema = {
        "allOf": [{"$ref": REF.format(model="ErrorEnvelope")}],
        "properties": {"error": {"properties": {"code": {"enum": [c.value for c in codes]}}}},
    }
    return {"description": text, "content": {"application/json": {"schema": schema}}}


class _Schemas:
    """Collects every model first, then renders them once (shared definitions, unique names)."""

    def __init__(self) -> None:
        self.wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorEnvelope, "serialization")]
        self.refs: dict[Any, Any] = {}
        self.components: dict[str, Any] = {}

    def want(self, model: type[BaseModel], mode: JsonSchemaMode) -> None:
        if (model, mode) not in self.wanted:
            self.wanted.append((model, mode))

    def render(self) -> None:
        self.refs, defs = models_json_schema(self.wanted, ref_template=REF)
        self.components = dict(sorted(defs.get("$defs", {}).items()))

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> Any:
        return self.refs[(model, mode)]


def _responses(op: Operation, route: Route, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, answer in sorted(op.responses.items()):
        phrase = HTTPStatus(status).phrase
        if answer is None:
            out[str(status)] = {"description": phrase}
        elif isinstance(answer, Content | tuple):
            media = answer if isinstance(answer, tuple) else (answer,)
            content = {m.media_type: {"schema": dict(m.schema)} for m in media}
            out[str(status)] = {"description": phrase, "content": content}
        else:
            content = {"application/json": {"schema": schemas.ref(answer, "serialization")}}
            out[str(status)] = {"description": f"{phrase}: {answer.__name__}", "content": content}
    for status, codes in sorted(_codes(op, route).items()):
        out.setdefault(str(status), _error_response(codes))
    return out


def _operation(route: Route, op: Operation, schemas: _Schemas) -> dict[str, Any]:
    params = [_path_param(name, conv) for name, conv in route.param_convertors.items()]
    doc: dict[str, Any] = {
        "operationId": f"{route.endpoint.__name__}",
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": params + [_param(p) for p in op.params],
        "responses": _responses(op, route, schemas),
        "security": [{SECURITY_SCHEME: []}] if op.auth else [],
    }
    roles = ", ".join(op.roles) if op.roles is not None else ("any signed-in user" if op.auth else "anyone")
    if op.roles is not None and "staff" in op.roles:
        roles += " (staff: their own truck only)"
    doc["description"] = f"{op.description}\n\nRoles: {roles}.".strip()
    if op.roles is not None:
        doc["x-roles"] = list(op.roles)
    if op.body is not None:
        content = {"application/json": {"schema": schemas.ref(op.body, "validation")}}
        doc["requestBody"] = {"required": op.body_required, "content": content}
    return doc


def _template(route: Route) -> str:
    """``/api/orders/{id:int}`` → ``/api/orders/{id}``."""
    path = route.path
    for name in route.param_convertors:
        start = path.index("{" + name)
        end = path.index("}", start)
        path = path[:start] + "{" + name + "}" + path[end + 1 :]
    return path


def openapi_document(routes: Iterable[BaseRoute], *, title: str, version: str, description: str) -> dict[str, Any]:
    """The whole document for ``routes``.

    Raises:
        UndocumentedRoute: an API route's handler has no ``@api`` metadata.
    """
    found = api_routes(routes)
    missing = [r.path for r in found if operation_of(r.endpoint) is None]
    if missing:
        raise UndocumentedRoute(f"routes without @api metadata: {', '.join(missing)}")
    schemas = _Schemas()
    for route in found:
        op = operation_of(route.endpoint)
        assert op is not None
        if op.body is not None:
            schemas.want(op.body, "validation")
        for answer in op.responses.values():
            if isinstance(answer, type):
                schemas.want(answer, "serialization")
    schemas.render()
    paths: dict[str, dict[str, Any]] = {}
    for route in found:
        op = operation_of(route.endpoint)
        assert op is not None
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(_template(route), {})[method.lower()] = _operation(route, op, schemas)
    tags = sorted({tag for methods in paths.values() for op_doc in methods.values() for tag in op_doc["tags"]})
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "the `access_token` of POST /api/auth/login",
                }
            },
        },
    }
