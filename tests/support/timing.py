"""One time unit for every test timeout, scaled on slow machines with HUB_TEST_TIME_FACTOR."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

MS = 0.001 * float(os.environ.get("HUB_TEST_TIME_FACTOR", "1"))


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5000 * MS) -> None:
    """Poll ``predicate`` until true; fail loudly on timeout (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.2f}s")
        await asyncio.sleep(10 * MS)
