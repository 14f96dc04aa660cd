"""The guest menu (protocol.md §4.3): what a guest may order now, cheap enough for a lunch rush.

Guests refreshing a phone must not load the kitchen's database, so the answer is rendered once
per shift and kept for ``TTL_S`` (1 s) in this process, encoded, with its ETag; concurrent misses
for one shift share one rendering (single flight). A TTL rather than a version: a sold-out or a
new special shows within a second, and nothing a guest reads here is authoritative anyway (the
order itself checks stock and windows under the shift's lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import MenuCategory, Shift, Truck, utcnow
from app.services.guest_eta import wait_estimate_s
from app.services.shift_menu import sellable_items
from app.services.stock import state_of, stock_rows

__all__ = ["TTL_S", "MenuCache", "Rendered", "render"]

TTL_S = 1.0
MAX_SHIFTS = 1024
_MESSAGES = {"paused": "the kitchen is paused: orders resume shortly", "closed": "this shift is closed"}


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str


async def render(session: AsyncSession, shift_id: int, *, payments_on: bool = True) -> Rendered:
    """The guest menu of a shift, encoded with its ETag (``payments_on``: the hub can take guest payments).

    Raises:
        ApiError: 404 for no such shift.
    """
    shift = await session.get(Shift, shift_id)
    if shift is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no shift {shift_id}")
    truck = await session.get(Truck, shift.truck_id)
    now = utcnow()
    items = [i for i in await sellable_items(session, shift) if i.active and i.available_at(now)]
    stock = await stock_rows(session, shift_id, (i.id for i in items if i.id is not None))
    by_category: dict[int | None, list[dict[str, Any]]] = {}
    specials: list[dict[str, Any]] = []
    for item in items:
        row = stock.get(item.id or 0)
        sold_out = row is not None and state_of(row.remaining, row.low_threshold, row.sold_out) == "sold_out"
        view = {"id": item.id, "name": item.name, "price_cents": item.price_cents, "sold_out": sold_out}
        if item.shift_id is not None:
            specials.append({**view, "available_until": item.available_until and item.available_until.isoformat()})
        else:
            by_category.setdefault(item.category_id, []).append(view)
    categories = (
        await session.exec(
            select(MenuCategory)
            .where(or_(col(MenuCategory.truck_id).is_(None), col(MenuCategory.truck_id) == shift.truck_id))
            .order_by(col(MenuCategory.position), col(MenuCategory.id))
        )
    ).all()
    accepting = shift.status == "active" and payments_on
    message = None if accepting else _MESSAGES.get(shift.status, f"shift is {shift.status}")
    if shift.status == "active" and not payments_on:
        message = "ordering ahead is not available at this truck: order at the window"
    content = {
        "shift": {"id": shift.id, "status": shift.status, "truck_name": truck.name if truck else None},
        "accepting_orders": accepting,
        "message": message,
        "categories": [
            {"id": c.id, "name": c.name, "items": by_category[c.id]} for c in categories if by_category.get(c.id)
        ],
        "specials": specials,
        "wait_estimate_s": await wait_estimate_s(session, shift_id) if shift.status == "active" else None,
    }
    body = orjson.dumps(content)
    return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class MenuCache:
    """Rendered menus per shift for ``ttl_s``; one rendering at a time per shift, the others wait for it."""

    def __init__(self, *, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[int, tuple[float, Rendered]] = {}
        self._inflight: dict[int, asyncio.Future[Rendered]] = {}

    async def get(self, shift_id: int, produce: Callable[[], Awaitable[Rendered]]) -> Rendered:
        entry = self._entries.get(shift_id)
        if entry is not None and time.monotonic() - entry[0] < self._ttl_s:
            return entry[1]
        pending = self._inflight.get(shift_id)
        if pending is not None:  # a rush: wait for the rendering under way instead of querying again
            return await asyncio.shield(pending)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._inflight[shift_id] = future
        try:
            rendered = await produce()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._inflight[shift_id]
        if len(self._entries) >= MAX_SHIFTS:
            self._entries.clear()  # bounded: old shifts' menus are cheap to render again
        self._entries[shift_id] = (time.monotonic(), rendered)
        future.set_result(rendered)
        return rendered
