"""``/openapi.json`` with its ETag, ``/docs`` and ``/redoc`` with assets served by the hub, the home page's links."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.support.server import RunningServer


async def test_the_document_is_served_with_an_etag(server: RunningServer) -> None:
    async with server.client() as http:
        first = await http.get("/openapi.json")
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        assert first.json()["openapi"] == "3.1.0" and "/api/shifts/{id}/orders" in first.json()["paths"]
        validate(first.json())  # what is served, not only what the generator returns in a unit test
        etag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        again = await http.get("/openapi.json", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
        other = await http.get("/openapi.json", headers={"If-None-Match": '"stale"'})
        assert other.status_code == 200 and other.content == first.content


async def test_the_viewers_load_only_from_the_hub(server: RunningServer) -> None:
    async with server.client() as http:
        for page in ("/docs", "/redoc"):
            response = await http.get(page)
            assert response.status_code == 200 and "text/html" in response.headers["content-type"]
            assert "script-src 'self'" in response.headers["content-security-policy"]
            sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
            assert sources and all(s.startswith("/") for s in sources), sources  # no CDN, no other host
            for source in sources:
                assert (await http.get(source)).status_code == 200, source
        assert "/openapi.json" in (await http.get("/static/js/swagger-init.js")).text
        assert (await http.get("/docs/assets/index.html")).status_code == 404  # the wheel's demo page is not served
        assert b"cdn.redoc.ly" not in (await http.get("/docs/assets/redoc.standalone.js")).content


async def test_the_home_page_links_the_documentation_and_the_screens(server: RunningServer) -> None:
    async with server.client() as http:
        links = set(re.findall(r'href="([^"]+)"', (await http.get("/")).text))
    assert {"/docs", "/redoc", "/openapi.json", "/kds", "/dispatch"} <= links


async def test_a_405_names_every_method_of_the_path(server: RunningServer) -> None:
    async with server.client() as http:
        response = await http.delete("/api/trucks")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"
        assert response.json()["error"]["code"] == "bad_request"
        assert (await http.put("/api/users/1")).headers["allow"] == "DELETE, GET, HEAD, PATCH"
