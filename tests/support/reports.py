"""Helpers for report tests: place and advance tickets in one call, read an export as a spreadsheet would."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.support.kitchen import order

__all__ = ["advance", "as_cell", "placed", "read_csv", "undo_apostrophe"]


async def placed(http: httpx.AsyncClient, sid: int, *lines: tuple[int, int], **extra: Any) -> dict[str, Any]:
    response = await order(http, sid, *lines, **extra)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def advance(http: httpx.AsyncClient, ticket: dict[str, Any], *steps: str) -> None:
    for to in steps:
        assert (await http.post(f"/api/orders/{ticket['id']}/advance", json={"to": to})).status_code == 200


def as_cell(value: Any) -> str:
    """What a JSON value looks like as CSV text (app/services/reports/export.py ``to_cell``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_csv(response: httpx.Response) -> tuple[list[str], list[dict[str, str]]]:
    """Parse as a spreadsheet would: BOM, header row, RFC 4180 quoting (the csv module's defaults)."""
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert text.endswith("\r\n") and text.startswith(",".join(rows[0]) + "\r\n")
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def undo_apostrophe(cell: str) -> str:
    """docs/protocol-notes.md: CSV cells starting with an apostrophe had exactly one added."""
    return cell[1:] if cell.startswith("'") else cell
