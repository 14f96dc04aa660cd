"""Per-shift stock: states, once-per-crossing alerts, atomic decrements and restores (protocol.md §2.4 ``stock:``).

An item's state is ``sold_out`` (flagged, or counted down to 0), ``low`` (at or below its
threshold) or ``ok``. An alert is published only when the state changes, so a stream of
orders that keeps an item low does not repeat ``stock.low``; each crossing fires once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.codes import ErrorCode
from app.errors import ApiError
from app.models import MenuItem, ShiftStock, utcnow
from app.models.menu import StockAlert, StockState
from app.services.events import OutEvent

__all__ = ["StockChange", "alert_event", "decrement", "restore", "state_of", "stock_rows"]


def state_of(remaining: int | None, threshold: int | None, sold_out: bool) -> StockState:
    if sold_out or remaining == 0:
        return "sold_out"
    if remaining is not None and threshold is not None and remaining <= threshold:
        return "low"
    return "ok"


_EVENTS = {"low": "stock.low", "sold_out": "stock.sold_out", "ok": "stock.restocked"}


@dataclass(frozen=True, slots=True)
class StockChange:
    item_id: int
    name: str
    before: str
    remaining: int | None
    threshold: int | None
    sold_out: bool

    @property
    def after(self) -> StockState:
        return state_of(self.remaining, self.threshold, self.sold_out)


def alert_event(shift_id: int, change: StockChange) -> OutEvent | None:
    """The ``stock.*`` event for a state crossing, or None when the state did not change.

    Leaving ``sold_out`` for ``low`` is a restock too (the item can be ordered again).
    """
    before, after = change.before, change.after
    if before == after:
        return None
    name = "stock.restocked" if before == "sold_out" else _EVENTS[after]
    data: StockAlert = {
        "shift_id": shift_id,
        "item_id": change.item_id,
        "name": change.name,
        "remaining": change.remaining,
        "threshold": change.threshold,
        "sold_out": after == "sold_out",
        "state": after,
    }
    return OutEvent(f"stock:{shift_id}", name, data)


async def stock_rows(session: AsyncSession, shift_id: int, item_ids: Iterable[int]) -> dict[int, ShiftStock]:
    ids = list(set(item_ids))
    if not ids:
        return {}
    rows = await session.exec(_STOCK_OF, params={"shift_id": shift_id, "ids": ids})
    return {row.item_id: row for row in rows}


_STOCK_OF = select(ShiftStock).where(
    col(ShiftStock.shift_id) == bindparam("shift_id"), col(ShiftStock.item_id).in_(bindparam("ids", expanding=True))
)


async def decrement(
    session: AsyncSession, shift_id: int, wanted: dict[int, int], items: dict[int, MenuItem]
) -> list[StockChange]:
    """Take ``wanted`` (item id -> quantity) from this shift's stock, or raise 409 ``sold_out``.

    Each counted item is one conditional UPDATE (``remaining >= qty``): of two concurrent
    orders for the last unit exactly one matches, on SQLite and on Postgres alike. The
    caller's transaction is rolled back on the raise, so a partial decrement never lands.
    """
    rows = await stock_rows(session, shift_id, wanted)
    changes: list[StockChange] = []
    for item_id, qty in sorted(wanted.items()):
        row = rows.get(item_id)
        if row is None:
            continue  # not counted, not flagged: always available
        if row.sold_out:
            raise _sold_out(items[item_id], row.remaining)
        if row.remaining is None:
            continue
        result = await session.exec(
            update(ShiftStock)
            .where(
                col(ShiftStock.shift_id) == shift_id,
                col(ShiftStock.item_id) == item_id,
                col(ShiftStock.remaining) >= qty,
                col(ShiftStock.sold_out).is_(False),
            )
            .values(remaining=col(ShiftStock.remaining) - qty, updated_at=utcnow())
            .returning(col(ShiftStock.remaining), col(ShiftStock.low_threshold))
        )
        after = result.first()
        if after is None:
            current = await session.get(ShiftStock, (shift_id, item_id), populate_existing=True)
            raise _sold_out(items[item_id], current.remaining if current else None, wanted=qty)
        remaining, threshold = after
        before = state_of(remaining + qty, threshold, False)
        changes.append(StockChange(item_id, items[item_id].name, before, remaining, threshold, False))
    return changes


async def restore(
    session: AsyncSession, shift_id: int, returned: dict[int, int], names: dict[int, str]
) -> list[StockChange]:
    """Give cancelled quantities back to counted items; returns the state changes."""
    changes: list[StockChange] = []
    for item_id, qty in sorted(returned.items()):
        result = await session.exec(
            update(ShiftStock)
            .where(
                col(ShiftStock.shift_id) == shift_id,
                col(ShiftStock.item_id) == item_id,
                col(ShiftStock.remaining).is_not(None),
            )
            .values(remaining=col(ShiftStock.remaining) + qty, updated_at=utcnow())
            .returning(col(ShiftStock.remaining), col(ShiftStock.low_threshold), col(ShiftStock.sold_out))
        )
        after = result.first()
        if after is None:
            continue
        remaining, threshold, flagged = after
        before = state_of(remaining - qty, threshold, flagged)
        changes.append(StockChange(item_id, names.get(item_id, ""), before, remaining, threshold, flagged))
    return changes


def _sold_out(item: MenuItem, remaining: int | None, *, wanted: int | None = None) -> ApiError:
    left = "sold out" if not remaining else f"only {remaining} left"
    message = f"{item.name} (item {item.id}) is {left}" + (f", {wanted} ordered" if wanted else "")
    return ApiError(
        ErrorCode.SOLD_OUT, message, details={"item_id": item.id, "name": item.name, "remaining": remaining or 0}
    )
