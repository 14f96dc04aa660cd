"""``GET /asyncapi.json`` serves the document, naming the host the request came to."""

from __future__ import annotations

from app.asyncapi import document
from tests.support.server import RunningServer


async def test_the_document_is_served_without_login(server: RunningServer) -> None:
    async with server.client() as http:
        response = await http.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["servers"]["hub"]["host"] == f"127.0.0.1:{server.port}"
    assert body["asyncapi"] == "3.0.0"
    assert body["channels"] == document()["channels"]
