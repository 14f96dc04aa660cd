"""When did items cross into ``sold_out``? Derived from what the database keeps, since no table records alerts.

``app.services.stock`` publishes ``stock.sold_out`` when an item's state enters ``sold_out`` (flagged by hand, or
counted down to 0) and keeps no record of it; the broker's history expires within minutes. Every change of
a shift's stock is recorded elsewhere, though:

- a hand change (``PATCH …/inventory``) in ``inventory_adjustments`` with the values before and after;
- an order's decrement of a counted item in its lines, at the order's ``created_at``;
- a cancellation's restore of counted stock, at the order's ``cancelled_at``.

Walking those back from the stock's current row gives the level before and after each change, hence every
crossing (the same test ``stock.alert_event`` applies). Backwards, because a special's opening stock is written
without an adjustment; each adjustment's recorded "before" re-anchors the walk. Writes on a shift hold its lock
(``app.services.serial``), so timestamp order is commit order, up to clock skew between nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import InventoryAdjustment, Order, OrderLine, ShiftStock

__all__ = ["Level", "StockMove", "crossings", "sold_out_times"]


@dataclass(frozen=True, slots=True)
class Level:
    """An item's stock at one moment: its count (None: not counted) and its hand flag."""

    remaining: int | None
    flagged: bool

    @property
    def sold_out(self) -> bool:
        return self.flagged or self.remaining == 0


@dataclass(frozen=True, slots=True)
class StockMove:
    """One change of an item's stock: a counted delta (order −qty, cancel +qty) or a hand reset (before → after)."""

    at: datetime
    tiebreak: tuple[int, int]
    delta: int = 0
    reset: tuple[Level, Level] | None = None


def crossings(current: Level, moves: Iterable[StockMove]) -> list[datetime]:
    """Times at which the item entered ``sold_out``, newest first, walking back from its ``current`` level.

    Args:
        current: the stock row as it is now.
        moves: every change of that item on that shift, in any order.

    Returns:
        One time per crossing into ``sold_out`` (one ``stock.sold_out`` event each).
    """
    level = current
    out: list[datetime] = []
    for move in sorted(moves, key=lambda m: (m.at, m.tiebreak), reverse=True):
        if move.reset is not None:
            before, after = move.reset
        else:
            # An uncounted item's orders and cancellations did not touch its stock.
            after = level
            before = level if level.remaining is None else Level(level.remaining - move.delta, level.flagged)
        if after.sold_out and not before.sold_out:
            out.append(move.at)
        level = before
    return out


Key = tuple[int, int]  # (shift_id, item_id)


async def _moves(session: AsyncSession, shift_ids: list[int]) -> dict[Key, list[StockMove]]:
    moves: dict[Key, list[StockMove]] = {}
    adjustments = await session.exec(
        select(InventoryAdjustment).where(col(InventoryAdjustment.shift_id).in_(shift_ids))
    )
    for a in adjustments:
        reset = (Level(a.old_remaining, a.old_sold_out), Level(a.new_remaining, a.new_sold_out))
        moves.setdefault((a.shift_id, a.item_id), []).append(StockMove(a.at, (1, a.id or 0), reset=reset))
    counted = and_(col(ShiftStock.shift_id) == col(Order.shift_id), col(ShiftStock.item_id) == col(OrderLine.item_id))
    per_order: list[Any] = [Order.shift_id, OrderLine.item_id, Order.id, Order.created_at, Order.cancelled_at]
    lines = await session.exec(
        select(*[*per_order, func.sum(OrderLine.qty)])  # a list: sqlmodel types select() for at most 4 columns
        .select_from(Order)
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .join(ShiftStock, counted)  # only items with a stock row can ever be sold out
        .where(col(Order.shift_id).in_(shift_ids))
        .group_by(*per_order)
    )
    for shift_id, item_id, order_id, created, cancelled, qty in lines:
        item_moves = moves.setdefault((shift_id, item_id), [])
        item_moves.append(StockMove(created, (0, order_id or 0), delta=-int(qty)))
        if cancelled is not None:
            item_moves.append(StockMove(cancelled, (2, order_id or 0), delta=int(qty)))
    return moves


async def sold_out_times(session: AsyncSession, shift_ids: list[int]) -> list[datetime]:
    """Every crossing into ``sold_out`` on these shifts (any item), in no particular order. Three queries."""
    if not shift_ids:
        return []
    moves = await _moves(session, shift_ids)
    stock = await session.exec(select(ShiftStock).where(col(ShiftStock.shift_id).in_(shift_ids)))
    out: list[datetime] = []
    for row in stock:
        out += crossings(Level(row.remaining, row.sold_out), moves.get((row.shift_id, row.item_id), []))
    return out
