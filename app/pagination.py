"""``limit`` and ``cursor`` for every list route (protocol.md §4.2): ``{"items": […], "next_cursor": …}``.

Lists stored in the database page by id (keyset: a page never skips or repeats a row when rows
are added meanwhile); lists computed in memory page by offset. The cursor is opaque to clients:
an url-safe token they hand back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from app.codes import ErrorCode
from app.errors import ApiError
from app.models.common import MAX_ID

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "page_of", "paged"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_CURSOR = re.compile(r"([ko]):([0-9]{1,19})")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = DEFAULT_LIMIT
    after: int | None = None
    """The id (keyset lists) or offset (computed lists) the previous page ended at."""


def page_of(request: Request, *, kind: str = "k") -> Page:
    """The page a request asks for. ``kind`` is ``k`` (keyset by id) or ``o`` (offset).

    Raises:
        ApiError: 400 for a limit outside 1–500 or a cursor this list did not hand out.
    """
    raw_limit = request.query_params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ApiError(ErrorCode.BAD_REQUEST, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    cursor = request.query_params.get("cursor")
    if not cursor:
        return Page(limit)
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    match = _CURSOR.fullmatch(decoded)
    if match is None or match.group(1) != kind or int(match.group(2)) > MAX_ID:
        raise ApiError(ErrorCode.BAD_REQUEST, "cursor is not one this list handed out")
    return Page(limit, int(match.group(2)))


def _cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def paged(
    rows: Sequence[T], page: Page, render: Callable[[T], Any], key: Callable[[T], int] | None = None
) -> dict[str, Any]:
    """The response of one page. ``rows`` holds up to ``limit + 1`` rows (one more tells there is a next page).

    With ``key`` (the row's id) the cursor is a keyset one; without, ``rows`` is the whole computed list
    and the page is cut from it by offset.
    """
    if key is None:
        start = page.after or 0
        window = rows[start : start + page.limit + 1]
        more = len(window) > page.limit
        items = window[: page.limit]
        return {"items": [render(r) for r in items], "next_cursor": _cursor("o", start + page.limit) if more else None}
    more = len(rows) > page.limit
    items = rows[: page.limit]
    return {"items": [render(r) for r in items], "next_cursor": _cursor("k", key(items[-1])) if more else None}
