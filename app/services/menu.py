"""Menu edits by admins and managers, each audited in its own transaction (who, when, old and new values)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import MenuCategory, MenuItem, Truck, utcnow
from app.models.menu import CategoryCreate, ItemCreate, ItemUpdate
from app.security import AccessClaims
from app.services import audit
from app.services.permissions import require_manager

__all__ = ["catalog", "create_category", "create_item", "delete_item", "update_item"]


def _audit(
    session: AsyncSession, actor: AccessClaims, entity: str, entity_id: int, action: str, old: Any, new: Any
) -> None:
    truck_id = (new or old or {}).get("truck_id")
    audit.record(
        session, actor.user_id, f"menu.{entity}.{action}", f"{entity}:{entity_id}", old=old, new=new, truck_id=truck_id
    )


async def create_category(session: AsyncSession, body: CategoryCreate, actor: AccessClaims) -> MenuCategory:
    require_manager(actor)
    if body.truck_id is not None and await session.get(Truck, body.truck_id) is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no truck {body.truck_id}")
    category = MenuCategory(name=body.name, position=body.position, truck_id=body.truck_id)
    session.add(category)
    await session.flush()
    assert category.id is not None
    _audit(session, actor, "category", category.id, "create", None, category.public())
    await session.commit()
    return category


async def _category(session: AsyncSession, category_id: int) -> MenuCategory:
    category = await session.get(MenuCategory, category_id)
    if category is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no category {category_id}")
    return category


async def create_item(session: AsyncSession, body: ItemCreate, actor: AccessClaims) -> MenuItem:
    require_manager(actor)
    await _category(session, body.category_id)
    item = MenuItem(**body.model_dump())
    session.add(item)
    await session.flush()
    assert item.id is not None
    _audit(session, actor, "item", item.id, "create", None, item.audit_view())
    await session.commit()
    return item


async def _live_item(session: AsyncSession, item_id: int) -> MenuItem:
    item = await session.get(MenuItem, item_id)
    if item is None or item.deleted:
        raise ApiError(ErrorCode.NOT_FOUND, f"no menu item {item_id}")
    return item


async def update_item(session: AsyncSession, item_id: int, patch: ItemUpdate, actor: AccessClaims) -> MenuItem:
    require_manager(actor)
    item = await _live_item(session, item_id)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("category_id") is not None:
        await _category(session, changes["category_id"])
    old = item.audit_view()
    for field, value in changes.items():
        if value is None:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{field} cannot be null", status=422)
        setattr(item, field, value)
    item.updated_at = utcnow()
    session.add(item)
    _audit(session, actor, "item", item_id, "update", old, item.audit_view())
    await session.commit()
    return item


async def delete_item(session: AsyncSession, item_id: int, actor: AccessClaims) -> None:
    """Soft delete: the item leaves every menu, but past tickets and stock history still name it."""
    require_manager(actor)
    item = await _live_item(session, item_id)
    old = item.audit_view()
    item.deleted, item.active, item.updated_at = True, False, utcnow()
    session.add(item)
    _audit(session, actor, "item", item_id, "delete", old, item.audit_view())
    await session.commit()


async def catalog(session: AsyncSession, actor: AccessClaims) -> dict[str, Any]:
    """The whole menu (not one shift's): categories with every live item, for the back office."""
    require_manager(actor)
    categories = (
        await session.exec(select(MenuCategory).order_by(col(MenuCategory.position), col(MenuCategory.id)))
    ).all()
    items = (
        await session.exec(
            select(MenuItem)
            .where(col(MenuItem.deleted).is_(False), col(MenuItem.shift_id).is_(None))
            .order_by(col(MenuItem.id))
        )
    ).all()
    by_category: dict[int | None, list[dict[str, Any]]] = {}
    for item in items:
        by_category.setdefault(item.category_id, []).append(item.public())
    return {"categories": [{**c.public(), "items": by_category.get(c.id, [])} for c in categories]}
