"""The indexed router answers every request exactly as Starlette's own router does, only sooner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Message, Receive, Scope, Send

from app.route_index import IndexedRouter


def _endpoint(name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {sorted(request.path_params.items())}")

    return endpoint


async def _static(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(f"static {scope['path']}")(scope, receive, send)


def _routes() -> list[BaseRoute]:
    """Every shape the index treats apart: literal paths of one and two segments, parameters after the
    second segment, after the first, inside a segment, as the first segment, a path convertor, a mount,
    two routes for one path with different methods, and order deciding between overlapping routes. A route
    the index wrongly left out shows only when a later one matches instead: the last route catches those."""
    return [
        Route("/", _endpoint("home")),
        Route("/kds", _endpoint("kds page")),
        Route("/api/me", _endpoint("me"), methods=["GET"]),
        Route("/api/shifts", _endpoint("shifts"), methods=["GET"]),
        Route("/api/shifts", _endpoint("check in"), methods=["POST"]),
        Route("/api/shifts/{id:int}", _endpoint("shift"), methods=["GET", "PATCH"]),
        Route("/api/shifts/{id:int}/kds", _endpoint("snapshot")),
        Route("/api/shifts/open", _endpoint("open shifts")),
        Route("/api/shifts/{name}", _endpoint("shift by name"), methods=["DELETE"]),
        Route("/api/x{n:int}", _endpoint("x")),
        Route("/api/x7", _endpoint("literal x7")),  # never reached: the route above takes its path first
        Route("/api/{thing}", _endpoint("thing")),
        Route("/files/{rest:path}", _endpoint("files")),
        Mount("/static", app=_static),
        Route("/docs/", _endpoint("docs")),
        Route("/{page}", _endpoint("page")),
        Route("/{page}/kds", _endpoint("page kds"), methods=["POST"]),
        Route("/{section}/{item}", _endpoint("section item")),  # last: matches what an index might wrongly skip
    ]


async def _answer(router: Router, method: str, path: str) -> tuple[int, bytes, bytes]:
    scope: Scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"hub.test")], "scheme": "http", "server": ("hub.test", 80),
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await router(scope, receive, send)
    start = sent[0]
    location = dict(start.get("headers", [])).get(b"location", b"")
    return start["status"], b"".join(m.get("body", b"") for m in sent[1:]), location


_SEGMENTS = ["", "api", "shifts", "kds", "me", "open", "3", "x7", "files", "static", "docs", "a.b"]
_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"]


def _paths(depth: int) -> list[str]:
    """Every path of up to ``depth`` segments from :data:`_SEGMENTS`, with and without a trailing slash."""
    paths, level = ["/"], [""]
    for _ in range(depth):
        level = [f"{prefix}/{segment}" for prefix in level for segment in _SEGMENTS]
        paths += level + [f"{path}/" for path in level]
    return paths


def test_every_request_gets_the_answer_starlette_would_give() -> None:
    """Exhaustive over short paths (a sampled search missed a wrongly skipped route more often than not)."""
    routes = _routes()

    async def both() -> list[tuple[str, str]]:
        differ = []
        for path in _paths(3):
            for method in _METHODS:
                if await _answer(IndexedRouter(routes), method, path) != await _answer(Router(routes), method, path):
                    differ.append((method, path))
        return differ

    assert asyncio.run(both()) == []


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(_METHODS),
    segments=st.lists(st.sampled_from(_SEGMENTS) | st.text("ab/{}%.-\n", max_size=4), min_size=4, max_size=6),
)
def test_longer_and_stranger_paths_too(method: str, segments: list[str]) -> None:
    routes, path = _routes(), "/" + "/".join(segments)
    expected = asyncio.run(_answer(Router(routes), method, path))
    assert asyncio.run(_answer(IndexedRouter(routes), method, path)) == expected


@pytest.mark.parametrize(
    ("method", "path", "answer"),
    [
        ("GET", "/api/shifts/3/kds", "snapshot [('id', 3)]"),
        ("GET", "/api/shifts/open", "open shifts []"),  # not the int route before it, not the name route after
        ("DELETE", "/api/shifts/open", "shift by name [('name', 'open')]"),
        ("POST", "/api/shifts", "check in []"),  # the second route of one path, for its method
        ("GET", "/api/x7", "x [('n', 7)]"),
        ("GET", "/api/whatever", "thing [('thing', 'whatever')]"),
        ("GET", "/files/a/b/c", "files [('rest', 'a/b/c')]"),
        ("GET", "/static/app.js", "static /static/app.js"),  # a mount: Starlette keeps the path, sets root_path
        ("GET", "/menu", "page [('page', 'menu')]"),
        ("POST", "/menu/kds", "page kds [('page', 'menu')]"),
        ("GET", "/", "home []"),
        ("GET", "/kds\n", "kds page []"),  # Python's "$" matches before a final newline: so does Starlette
        ("GET", "/api/me\n", "me []"),
    ],
)
def test_the_tricky_routes_each_answer_for_themselves(method: str, path: str, answer: str) -> None:
    status, body, _ = asyncio.run(_answer(IndexedRouter(_routes()), method, path))
    assert (status, body.decode()) == (200, answer)


def test_a_route_added_after_the_first_request_is_found() -> None:
    router = IndexedRouter(_routes())
    assert asyncio.run(_answer(router, "GET", "/api/shifts/3/summary"))[0] == 404
    router.routes.insert(0, Route("/api/shifts/{id:int}/summary", _endpoint("summary")))
    assert asyncio.run(_answer(router, "GET", "/api/shifts/3/summary"))[:2] == (200, b"summary [('id', 3)]")


def _stand_in(route: BaseRoute, i: int) -> BaseRoute:
    """The same path, methods and kind as ``route``, answering with its position in the table."""
    if isinstance(route, Route):
        return Route(route.path, _endpoint(str(i)), methods=sorted(route.methods or ()) or None)
    if isinstance(route, Mount):
        return Mount(route.path, app=_static)
    return route


def _example(path: str) -> str:
    """The route's path with a plausible value for each parameter."""
    values = {"int": "3", "path": "a/b", "float": "1.5", "uuid": "6e1c2e5e-0d5e-4f5b-9b1e-2a1f0e3b4c5d"}
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        param, _, rest = tail.partition("}")
        out += head + values.get(param.partition(":")[2], "abc")
    return out + rest


def test_the_hubs_own_routes_are_chosen_as_starlette_would() -> None:
    """The real table (not only the made-up one above): each route's own path, a neighbour of it and a longer
    one, every method, answer from the same route under both routers."""
    from app.main import create_app
    from app.settings import Settings

    real = create_app(Settings()).routes
    table = [_stand_in(route, i) for i, route in enumerate(real)]
    paths = {"/", "/nothing", "/api", "/api/nothing/3"}
    for route in real:
        if isinstance(route, Route | Mount):
            example = _example(route.path)
            paths |= {example, example + "/", example + "/x", example.rstrip("/") + "x", example + "\n"}

    async def both() -> list[tuple[str, str]]:
        differ = []
        for path in sorted(paths):
            for method in _METHODS:
                if await _answer(IndexedRouter(table), method, path) != await _answer(Router(table), method, path):
                    differ.append((method, path))
        return differ

    assert len(paths) > 200
    assert asyncio.run(both()) == []
