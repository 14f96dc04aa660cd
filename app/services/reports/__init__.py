"""Operator reports (protocol.md §4.2), read-only: a shift's dashboard and export, a truck's week.

- ``dashboard``: orders and revenue per 15-minute bucket, open tickets by status, prep times, low stock.
- ``export``: one flat record per order line, streamed as CSV (spreadsheet-safe) or JSON.
- ``weekly``: per UTC day of an ISO week, orders, revenue, top items and sold-out events.
- ``sold_out``: when items crossed into ``sold_out``, derived from the stock's recorded changes.
"""

from __future__ import annotations

from app.services.reports.dashboard import shift_dashboard
from app.services.reports.export import ExportFormat, export_rows, stream_csv, stream_json
from app.services.reports.weekly import IsoWeek, parse_week, weekly_report

__all__ = [
    "ExportFormat",
    "IsoWeek",
    "export_rows",
    "parse_week",
    "shift_dashboard",
    "stream_csv",
    "stream_json",
    "weekly_report",
]
