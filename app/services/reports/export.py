"""A shift's order lines for a spreadsheet or a program (protocol.md §4.2 ``GET /api/shifts/{id}/export``).

One row per order line, with its ticket's number, status and status timestamps. The same flat record feeds
both formats, so the JSON export holds exactly the values of the CSV once read back:

- CSV: UTF-8 with a BOM (spreadsheets then detect UTF-8), a header row, RFC 4180 quoting, CRLF line ends.
  A cell that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``, tab or CR) gets a
  leading apostrophe; so does a cell that already starts with one, which makes the change reversible: strip one
  leading apostrophe from any cell that has it and you have the stored value (``restore_cell``).
- JSON: the stored values, not neutralised (programs do not evaluate formulas), typed (numbers, booleans, null).

Encoding happens in chunks of ``CHUNK_ROWS`` rows inside the response body's iterator, which hands the event
loop back between chunks: a shift of thousands of lines never holds the loop for long, and the database
session is closed before the first byte is sent (rows are fetched in one query first).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import orjson
from sqlalchemy import RowMapping
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Order, OrderLine, iso

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "MODIFIER_SEPARATOR",
    "ExportFormat",
    "export_rows",
    "neutralise",
    "restore_cell",
    "stream_csv",
    "stream_json",
    "to_cell",
]

ExportFormat = Literal["csv", "json"]
CHUNK_ROWS = 500
_BOM = "\ufeff".encode()  # UTF-8 byte order mark: spreadsheets then read the file as UTF-8
# OWASP "CSV injection": what a spreadsheet may read as the start of a formula; the apostrophe is ours (reversible).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
MODIFIER_SEPARATOR = "; "

COLUMNS = (
    "ticket_number",
    "order_id",
    "status",
    "held",
    "created_at",
    "started_at",
    "ready_at",
    "completed_at",
    "cancelled_at",
    "cancel_reason",
    "customer_name",
    "note",
    "line",
    "item_id",
    "item_name",
    "station",
    "qty",
    "unit_price_cents",
    "line_total_cents",
    "modifiers",
)
_STAMPS = ("created_at", "started_at", "ready_at", "completed_at", "cancelled_at")
# Each stored column of the export, under its export name; line_total_cents is derived in ``_record``.
_SOURCE: dict[str, Any] = {
    "ticket_number": col(Order.number),
    "order_id": col(Order.id),
    "status": col(Order.status),
    "held": col(Order.held),
    "created_at": col(Order.created_at),
    "started_at": col(Order.started_at),
    "ready_at": col(Order.ready_at),
    "completed_at": col(Order.completed_at),
    "cancelled_at": col(Order.cancelled_at),
    "cancel_reason": col(Order.cancel_reason),
    "customer_name": col(Order.customer_name),
    "note": col(Order.note),
    "line": col(OrderLine.line),
    "item_id": col(OrderLine.item_id),
    "item_name": col(OrderLine.name),
    "station": col(OrderLine.station),
    "qty": col(OrderLine.qty),
    "unit_price_cents": col(OrderLine.unit_price_cents),
    "modifiers": col(OrderLine.modifiers),
}


async def export_rows(session: AsyncSession, shift_id: int) -> list[RowMapping]:
    """Every line of the shift's tickets, by ticket number then line: one query, stored values."""
    result = await session.exec(
        select(*(column.label(name) for name, column in _SOURCE.items()))
        .select_from(Order)
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(Order.shift_id == shift_id)
        .order_by(col(Order.number), col(OrderLine.line))
    )
    return [row._mapping for row in result]


def _record(row: RowMapping) -> dict[str, Any]:
    """The flat export record of one line, in ``COLUMNS`` order."""
    values = dict(row)
    values["line_total_cents"] = row["qty"] * row["unit_price_cents"]
    values["modifiers"] = MODIFIER_SEPARATOR.join(row["modifiers"])
    for stamp in _STAMPS:
        values[stamp] = iso(row[stamp])
    return {name: values[name] for name in COLUMNS}


def to_cell(value: Any) -> str:
    """A record value as CSV text: null is empty, booleans ``true``/``false``, numbers in decimal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def neutralise(cell: str) -> str:
    """Prefix an apostrophe to a cell a spreadsheet could run as a formula (and to one starting with ``'``)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def restore_cell(cell: str) -> str:
    """The inverse of :func:`neutralise`: what the JSON export holds for this CSV cell (as text)."""
    return cell[1:] if cell.startswith("'") else cell


def _csv_chunk(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def stream_csv(rows: list[RowMapping]) -> AsyncIterator[bytes]:
    """The CSV body, BOM and header first, then ``CHUNK_ROWS`` rows per chunk."""
    yield _BOM + _csv_chunk([COLUMNS])
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        yield _csv_chunk([[neutralise(to_cell(v)) for v in _record(raw).values()] for raw in chunk])
        await asyncio.sleep(0)  # hand the loop back between chunks: other sockets and requests go on


async def stream_json(shift_id: int, rows: list[RowMapping]) -> AsyncIterator[bytes]:
    """``{"shift_id", "columns", "items":[record…]}``, written ``CHUNK_ROWS`` records at a time."""
    yield b'{"shift_id":%d,"columns":%s,"items":[' % (shift_id, orjson.dumps(COLUMNS))
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = b",".join(orjson.dumps(_record(raw)) for raw in rows[start : start + CHUNK_ROWS])
        yield (b"," if start else b"") + chunk
        await asyncio.sleep(0)
    yield b"]}"
