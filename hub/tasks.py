"""Background tasks with a strong reference and a loud death."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]

log = logging.getLogger("hub.tasks")


class TaskSet:
    """Keeps a strong reference to each task until it ends; logs tasks that die of an exception."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Start ``coro``. The task is registered before it can run, so it cannot be collected early."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s died", task.get_name(), exc_info=exc)

    async def cancel_all(self, timeout: float, msg: str, *, grace: float = 1.0) -> None:
        """Wait up to ``timeout`` for tasks to end, then cancel the stragglers with ``msg`` and give them
        ``grace`` seconds to unwind."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel(msg=msg)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, grace))
