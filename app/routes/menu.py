"""Menu routes (protocol.md §4): the catalog (admin, manager), a shift's menu, specials and inventory."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.codes import ErrorCode
from app.deps import actor, deliver, path_id, publish_pending, state
from app.errors import parse_body
from app.models import AuditEntry
from app.models.menu import CategoryCreate, InventoryPatch, ItemCreate, ItemUpdate, SpecialCreate
from app.models.views import Catalog, Category, MenuItem, ShiftMenu, ShiftMenuItem
from app.models.views_ops import AuditPage, InventoryResult
from app.openapi import KITCHEN, api
from app.pagination import page_of, paged
from app.responses import json_response
from app.routes.audit import AUDIT_QUERY, audit_query
from app.services import menu, shift_menu
from app.services.audit import search
from app.services.permissions import require_manager
from app.services.shifts import load_shift

__all__ = ["routes"]


@api(
    "Create a category",
    tags=["menu"],
    body=CategoryCreate,
    responses={201: Category},
    errors=[ErrorCode.NOT_FOUND],
    roles=["admin", "manager"],
)
async def create_category(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, CategoryCreate)
    async with state(request).db.session() as session:
        category = await menu.create_category(session, body, who)
    return json_response(category.public(), 201)


@api("The whole menu", tags=["menu"], responses={200: Catalog}, roles=["admin", "manager"])
async def catalog(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        return json_response(await menu.catalog(session, who))


@api(
    "Menu changes",
    tags=["menu", "audit"],
    responses={200: AuditPage},
    params=[p for p in AUDIT_QUERY if p.name != "action"],
    roles=["admin", "manager"],
)
async def audit_trail(request: Request) -> Response:
    """The audit log's menu entries (``menu.*`` actions): kept as its own route for the menu editor."""
    who = await actor(request)
    require_manager(who)
    query, page = audit_query(request, action="menu."), page_of(request)
    async with state(request).db.session() as session:
        rows = await search(session, who, query, page)
    return json_response(paged(rows, page, AuditEntry.public, key=lambda e: e.id or 0))


@api(
    "Create a menu item",
    tags=["menu"],
    body=ItemCreate,
    responses={201: MenuItem},
    errors=[ErrorCode.NOT_FOUND],
    roles=["admin", "manager"],
)
async def create_item(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, ItemCreate)
    async with state(request).db.session() as session:
        item = await menu.create_item(session, body, who)
    return json_response(item.public(), 201)


@api("Change a menu item", tags=["menu"], body=ItemUpdate, responses={200: MenuItem}, roles=["admin", "manager"])
async def update_item(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, ItemUpdate)
    async with state(request).db.session() as session:
        item = await menu.update_item(session, path_id(request), body, who)
    return json_response(item.public())


@api("Delete a menu item", tags=["menu"], responses={204: None}, roles=["admin", "manager"])
async def delete_item(request: Request) -> Response:
    who = await actor(request)
    async with state(request).db.session() as session:
        await menu.delete_item(session, path_id(request), who)
    return Response(status_code=204)


@api(
    "A shift's menu with stock",
    tags=["menu", "shifts"],
    responses={200: ShiftMenu},
    errors=[ErrorCode.FORBIDDEN],
    roles=KITCHEN,
)
async def shift_menu_view(request: Request) -> Response:
    """Read under the shift lock with ``stock:{id}``'s position: snapshot + ``since`` misses nothing."""
    who = await actor(request)
    shift_id = path_id(request)
    st = state(request)
    async with st.locks.hold(shift_id):
        await publish_pending(request, shift_id)  # the position must cover every change the view shows
        async with st.db.session() as session:
            view = await shift_menu.menu_view(session, await load_shift(session, shift_id, who))
        top = await st.hub.position(f"stock:{shift_id}")
    return json_response({**view, "seq": top.seq, "epoch": top.epoch})


@api(
    "Add a special to a shift",
    tags=["menu", "shifts"],
    body=SpecialCreate,
    responses={201: ShiftMenuItem},
    errors=[ErrorCode.INVALID_TRANSITION],
    roles=["admin", "manager"],
    description="Sold on this shift only, inside its window; a closed shift takes none (409).",
)
async def add_special(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, SpecialCreate)
    shift_id = path_id(request)
    async with state(request).db.session() as session:
        special = await shift_menu.add_special(session, await load_shift(session, shift_id, who), body, who)
    return json_response(special, 201)


@api(
    "Bulk stock update",
    tags=["menu", "shifts"],
    body=InventoryPatch,
    responses={200: InventoryResult},
    errors=[ErrorCode.FORBIDDEN, ErrorCode.INVALID_TRANSITION, ErrorCode.UNAVAILABLE],
    description="Atomic: every line or none; emits `stock.*` events on `stock:{id}`.",
    roles=KITCHEN,
)
async def set_inventory(request: Request) -> Response:
    who = await actor(request)
    body = await parse_body(request, InventoryPatch)
    shift_id = path_id(request)
    st = state(request)
    async with st.locks.write(shift_id) as session:
        shift = await load_shift(session, shift_id, who)
        views, _ = await shift_menu.set_inventory(session, shift, body, who)
    headers = await deliver(request, shift_id)
    return json_response({"items": views}, headers=headers)


routes = [
    Route("/api/menu", catalog, methods=["GET"]),
    Route("/api/menu/audit", audit_trail, methods=["GET"]),
    Route("/api/menu/categories", create_category, methods=["POST"]),
    Route("/api/menu/items", create_item, methods=["POST"]),
    Route("/api/menu/items/{id:int}", update_item, methods=["PATCH"]),
    Route("/api/menu/items/{id:int}", delete_item, methods=["DELETE"]),
    Route("/api/shifts/{id:int}/menu", shift_menu_view, methods=["GET"]),
    Route("/api/shifts/{id:int}/specials", add_special, methods=["POST"]),
    Route("/api/shifts/{id:int}/inventory", set_inventory, methods=["PATCH"]),
]
