"""Starlette's router, trying for each request only the routes its path could match.

Starlette matches a request against every route in turn, each with its regular expression: the
KDS snapshot is the 43rd of 76 routes, about 18 µs per request, and the router's scan was about a
seventh of the event loop's time while thousands of tablets refetched their snapshots after a
restart (``make bench`` storm scenario, profiled). A route's path up to its first parameter is
literal, so a request path that does not start with it cannot match; the index keeps, per first two
path segments, the routes that could, in their order, and tries each one's expression before asking
it to match (which answers "no match" exactly when that expression fails). The first full match
among them is the one Starlette's scan would find: 3.5 µs instead of 18 for the snapshot's path.
Everything else (405 for another method, 404, slash redirects, lifespan, websockets, a
``root_path``) goes through Starlette's own scan unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Lifespan, Receive, Scope, Send

__all__ = ["IndexedRouter", "index_routes"]

_Candidates = tuple[tuple[str, Callable[[str], object], BaseRoute], ...]
_Key = tuple[str, str | None]


class IndexedRouter(Router):
    """Drop-in for :class:`starlette.routing.Router`. The index is rebuilt when routes are appended, inserted
    or removed (or the list replaced); routes replaced in place or reordered are not noticed."""

    _indexed: list[BaseRoute] | None = None
    _count = 0
    _by_two: dict[_Key, _Candidates]
    _by_first: dict[str, _Candidates]
    _anywhere: _Candidates

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        # A root_path, and a final newline (Python's "$" matches before it), are left to Starlette's scan.
        if scope["type"] == "http" and not scope.get("root_path") and not path.endswith("\n"):
            if self._indexed is not self.routes or self._count != len(self.routes):
                self._build()
            first, slash, rest = path[1:].partition("/")
            two = (first, rest.partition("/")[0] if slash else None)
            candidates = self._by_two.get(two) or self._by_first.get(first) or self._anywhere
            for prefix, could_match, route in candidates:
                if path.startswith(prefix) and could_match(path):
                    match, child_scope = route.matches(scope)
                    if match is Match.FULL:
                        scope.setdefault("router", self)
                        scope["route"] = route
                        scope.update(child_scope)
                        await route.handle(scope, receive, send)
                        return
        await super().app(scope, receive, send)

    def _build(self) -> None:
        entries = [(*_literal_start(route), route) for route in self.routes]

        def tried(*keys: _Key | str | None) -> _Candidates:
            return tuple((prefix, _matcher(route), route) for key, prefix, route in entries if key in keys)

        twos = {key for key, _, _ in entries if isinstance(key, tuple)}
        firsts = {two[0] for two in twos} | {key for key, _, _ in entries if isinstance(key, str)}
        self._by_two = {two: tried(two, two[0], None) for two in twos}
        self._by_first = {first: tried(first, None) for first in firsts}
        self._anywhere = tried(None)
        self._indexed, self._count = self.routes, len(self.routes)


def _matcher(route: BaseRoute) -> Callable[[str], object]:
    """A quick test that is false only when the route cannot match the path."""
    return route.path_regex.match if isinstance(route, Route) else _anything


def _anything(path: str) -> bool:
    return True


def _literal_start(route: BaseRoute) -> tuple[_Key | str | None, str]:
    """Which request paths the route could match, and its literal prefix.

    ``(first, second)``: only paths whose first two segments are these (``second`` is ``None`` for a path of
    one segment); ``first``: only paths whose first segment is this; ``None``: any path.
    """
    if not isinstance(route, Route):
        return None, ""  # mounts, hosts and the like: always tried, in their place
    prefix = route.path.split("{", 1)[0]
    has_params = "{" in route.path
    segments = prefix[1:].split("/")
    whole = segments[:-1] if has_params else segments  # the last piece before a parameter may be partial
    if len(whole) >= 2:
        return (whole[0], whole[1]), prefix
    if len(whole) == 1:
        return ((whole[0], None), prefix) if not has_params else (whole[0], prefix)
    return None, prefix


def index_routes(app: Starlette, lifespan: Lifespan[Any]) -> Starlette:
    """``app`` with an :class:`IndexedRouter` in place of its router (before its first request).

    Starlette builds its router from the routes and the lifespan it was given, nothing else; so does this.
    """
    app.router = IndexedRouter(app.router.routes, redirect_slashes=app.router.redirect_slashes, lifespan=lifespan)
    return app
