"""REST routes, grouped by resource; ``all_routes()`` lists them for the app factory."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute

from app.routes import (
    asyncapi,
    audit,
    auth,
    devices,
    docs,
    drivers,
    fleet,
    guest,
    health,
    menu,
    orders,
    pages,
    recall,
    reports,
    shifts,
    users,
)
from app.socket_route import SOCKET_PATH
from hub.endpoint import hub_endpoint

__all__ = ["all_routes"]


def all_routes() -> list[BaseRoute]:
    return [
        *health.routes,
        *asyncapi.routes,
        *auth.routes,
        *users.routes,
        *audit.routes,
        *fleet.routes,
        *shifts.routes,
        *menu.routes,
        *orders.routes,
        *guest.routes,
        *reports.routes,
        *devices.routes,
        *drivers.routes,
        *recall.routes,
        *docs.docs_routes(),
        *pages.routes,
        # Never reached by ``/ws`` upgrades (app.socket_route serves them first); listed so the app reads whole.
        WebSocketRoute(SOCKET_PATH, hub_endpoint),
    ]
