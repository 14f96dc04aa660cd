"""``GET /asyncapi.json``: the AsyncAPI 3.0 document of ``/ws`` (no login: it describes, it reveals nothing)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.asyncapi import document
from app.responses import json_response

__all__ = ["routes"]


async def asyncapi_json(request: Request) -> Response:
    """The server named in the document is the host the request came to, so tools can connect right away."""
    return json_response(document(request.headers.get("host") or "localhost:8000"))


# Described like /openapi.json: a document about the API, not an operation of it.
routes = [Route("/asyncapi.json", asyncapi_json, methods=["GET"], include_in_schema=False)]
