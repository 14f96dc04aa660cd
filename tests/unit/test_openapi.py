"""The OpenAPI document covers every API route, from the routes' own metadata, and is valid OpenAPI 3.1."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from app.codes import ErrorCode
from app.openapi import UndocumentedRoute, api_routes, openapi_document, operation_of
from app.routes import all_routes

PAGES = {"/", "/kds", "/dispatch", "/openapi.json", "/asyncapi.json", "/docs", "/redoc", "/docs/assets/{name:str}"}


def _document() -> dict[str, Any]:
    return openapi_document(all_routes(), title="t", version="1", description="d")


def test_every_api_route_has_metadata() -> None:
    """A new route without ``@api`` fails here (and the document refuses to build)."""
    missing = [route.path for route in api_routes(all_routes()) if operation_of(route.endpoint) is None]
    assert missing == []
    for route in api_routes(all_routes()):
        op = operation_of(route.endpoint)
        assert op is not None and op.summary and op.tags and op.responses, route.path


def test_pages_are_left_out_and_everything_else_is_in() -> None:
    routes = [r for r in all_routes() if isinstance(r, Route)]
    assert {r.path for r in routes if not r.include_in_schema} == PAGES
    document = _document()
    expected = {
        (r.path.replace(":int", "").replace(":str", ""), m.lower()) for r in api_routes(routes) for m in r.methods or ()
    }
    got = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert got == {(p, m) for p, m in expected if m != "head"}
    assert "/api/users/{id}" in document["paths"] and "/api/audit" in document["paths"]


def test_the_document_is_valid_openapi_3_1() -> None:
    document = _document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_operations_state_auth_roles_and_codes() -> None:
    document = _document()
    checkout = document["paths"]["/api/shifts/{id}/checkout"]["post"]
    assert checkout["security"] == [{"bearerAuth": []}]
    assert checkout["requestBody"]["required"] is False
    conflict = checkout["responses"]["409"]["content"]["application/json"]["schema"]
    assert conflict["properties"]["error"]["properties"]["code"]["enum"] == [ErrorCode.INVALID_TRANSITION.value]
    order = document["paths"]["/api/shifts/{id}/orders"]["post"]
    codes = set(
        order["responses"]["409"]["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"][
            "enum"
        ]
    )
    assert {"sold_out", "shift_not_accepting", "throttled"} <= codes
    assert {"201", "401", "403", "404", "422", "503"} <= set(order["responses"])
    users = document["paths"]["/api/users"]["post"]
    assert users["x-roles"] == ["admin", "manager"] and "403" in users["responses"]
    login = document["paths"]["/api/auth/login"]["post"]
    assert login["security"] == [] and "429" in login["responses"]
    path_id = document["paths"]["/api/orders/{id}"]["get"]["parameters"][0]
    assert path_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def test_times_are_date_time_strings() -> None:
    schemas = _document()["components"]["schemas"]
    created = schemas["Ticket"]["properties"]["created_at"]
    assert created == {"format": "date-time", "title": "Created At", "type": "string"}


def test_an_undocumented_route_is_refused() -> None:
    async def naked(request: Any) -> Any: ...

    with pytest.raises(UndocumentedRoute, match="/api/naked"):
        openapi_document([Route("/api/naked", naked)], title="t", version="1", description="d")
