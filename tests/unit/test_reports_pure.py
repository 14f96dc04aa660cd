"""The pure parts of the operator reports: CSV cell neutralisation, and sold-out crossings walked back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.services.reports.export import neutralise, restore_cell
from app.services.reports.sold_out import Level, StockMove, crossings
from app.services.stock import state_of

T0 = datetime(2025, 11, 17, tzinfo=UTC)


@given(st.text())
def test_neutralised_cells_are_safe_and_read_back_to_the_stored_value(value: str) -> None:
    cell = neutralise(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow([cell, "x"])
    (read,) = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
    assert read == [cell, "x"] and restore_cell(read[0]) == value


def test_formula_starts_get_one_apostrophe_and_plain_text_none() -> None:
    assert [neutralise(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "'x", "Zoë", "1-2", "")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "''x",
        "Zoë",
        "1-2",
        "",
    ]


# One kitchen step: ("set", remaining, flag) | ("order", qty) | ("cancel", index of an earlier order).
Step = tuple[str, int | None, bool]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.one_of(st.none(), st.integers(0, 6)), st.booleans()),
        st.tuples(st.just("order"), st.integers(1, 3), st.just(False)),
        st.tuples(st.just("cancel"), st.integers(0, 20), st.just(False)),
    ),
    max_size=30,
)


def simulate(opening: Level, plan: list[Step]) -> tuple[Level, list[StockMove], list[datetime]]:
    """What app.services.stock does, forwards: the final level, the recorded moves, and the crossings it announced."""
    level, moves, announced = opening, [], []
    taken: list[tuple[int, int]] = []  # (qty counted, order index) of orders not cancelled
    for index, (kind, value, flag) in enumerate(plan):
        at = T0 + timedelta(seconds=index)
        before = level
        if kind == "set":
            level = Level(value, flag)
            moves.append(StockMove(at, (1, index), reset=(before, level)))
        elif kind == "order" and value is not None and not level.sold_out:
            if level.remaining is not None and level.remaining < value:
                continue  # refused: 409 sold_out, nothing recorded
            if level.remaining is not None:
                level = Level(level.remaining - value, level.flagged)
            taken.append((value, index))
            moves.append(StockMove(at, (0, index), delta=-value))
        elif kind == "cancel" and value is not None and taken:
            qty, _ = taken.pop(value % len(taken))
            if level.remaining is not None:
                level = Level(level.remaining + qty, level.flagged)
            moves.append(StockMove(at, (2, index), delta=qty))
        if (
            state_of(level.remaining, None, level.flagged)
            == "sold_out"
            != state_of(before.remaining, None, before.flagged)
        ):
            announced.append(at)
    return level, moves, announced


@given(st.one_of(st.none(), st.integers(0, 6)), st.booleans(), steps)
def test_crossings_walked_back_are_the_ones_announced(opening: int | None, flagged: bool, plan: list[Step]) -> None:
    final, moves, announced = simulate(Level(opening, flagged), plan)
    assert sorted(crossings(final, moves)) == announced


def test_an_opening_stock_without_any_adjustment_is_recovered() -> None:
    orders = [StockMove(T0 + timedelta(minutes=m), (0, m), delta=-1) for m in (1, 2)]
    assert crossings(Level(0, False), orders) == [T0 + timedelta(minutes=2)]  # a special opened with 2
    assert crossings(Level(None, False), orders) == []  # never counted
