"""Per-shift serialization of "commit, then publish" against "read snapshot, then read seq".

protocol.md §3 "Snapshot + stream": a snapshot must return data and the topic's seq read
consistently, so a tablet that loads it and subscribes ``since`` misses nothing and sees
nothing twice. A writer holds the shift's lock from its transaction until its events are
published; a snapshot holds it while reading rows and the position. Without it, a snapshot
taken between a commit and its publish would contain the ticket *and* replay its event.

``ShiftLocks`` is the seam: this in-process implementation serializes one process; the
multi-process deployment (issue 6) needs one that spans processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

__all__ = ["LocalShiftLocks", "ShiftLocks"]


class ShiftLocks(Protocol):
    def hold(self, shift_id: int) -> contextlib.AbstractAsyncContextManager[None]: ...


class LocalShiftLocks:
    """One ``asyncio.Lock`` per shift that has a holder or waiter; idle shifts cost nothing."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, shift_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(shift_id) or (asyncio.Lock(), 0)
        self._locks[shift_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[shift_id]
            if users == 1:
                del self._locks[shift_id]
            else:
                self._locks[shift_id] = (lock, users - 1)


_check: type[ShiftLocks] = LocalShiftLocks
