"""The lifespan's closing steps, each bounded: a stop must end even when one resource will not close.

A hung close (a client library that never returns from its disconnect, a task that ignores its
cancellation) would otherwise keep the process alive until the orchestrator kills it, and skip every
step after it: the broker would stay open, the database pool undisposed. Here each step runs as a task
of its own, waited on with ``asyncio.wait`` (which, unlike ``wait_for``, never waits for a cancelled
task to agree to stop); one that overruns is logged with the line it is stuck on, cancelled and left
behind, and the next step runs.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable

log = logging.getLogger("app.shutdown")


class ClosingSteps:
    """Runs closing steps one after another within ``budget_s`` from now; each gets at least ``floor_s``."""

    def __init__(self, budget_s: float, *, floor_s: float = 2.0) -> None:
        self._end = time.monotonic() + budget_s
        self._floor_s = floor_s
        self.overran: list[str] = []

    @property
    def deadline(self) -> float:
        """Monotonic time by which every step should be done."""
        return self._end

    async def run(self, name: str, step: Awaitable[object]) -> None:
        """Run ``step``; log (never raise) what it raised, and give up on it after its share of the time."""
        task = asyncio.ensure_future(step)
        allowed = max(self._floor_s, self._end - time.monotonic())
        done, _ = await asyncio.wait({task}, timeout=allowed)
        if not done:
            self.overran.append(name)
            log.error("shutdown: %s still running after %.1f s; left behind at:\n%s", name, allowed, _stack(task))
            task.cancel()
            return
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("shutdown: %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)


def _stack(task: asyncio.Task[object]) -> str:
    buffer = io.StringIO()
    task.print_stack(file=buffer)
    return buffer.getvalue()
