"""Write-behind of "this device went offline": batches, one write at a time, never one per closing socket.

A drain closes thousands of sockets within one loop iteration or two; a database write per close
asked the pool for thousands of connections at once, most of which timed out ("device disconnect
bookkeeping failed") while the drain waited for them. Here a close only records the device; a
single writer task hands everything recorded so far to ``DeviceTracker.disconnected`` in one call,
and whatever closes meanwhile goes in the next call. The drain flushes the rest within its budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hub.auth import DeviceTracker
from hub.tasks import TaskSet

__all__ = ["DeviceKey", "OfflineBook"]

log = logging.getLogger("hub")

DeviceKey = tuple[int, str]
"""``(user_id, device_id)``."""


class OfflineBook:
    """Devices whose last socket on this node closed, waiting to be written as offline. One event loop."""

    def __init__(self, devices: DeviceTracker, tasks: TaskSet, *, connected: Callable[[DeviceKey], bool]) -> None:
        """``connected(key)``: whether the device has a socket on this node again (then it is not offline)."""
        self._devices = devices
        self._tasks = tasks
        self._connected = connected
        self._pending: dict[DeviceKey, None] = {}  # insertion-ordered set
        self._writer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: DeviceKey) -> None:
        """The device's last socket here closed: mark it offline soon (never awaits)."""
        self._pending[key] = None
        if self._writer is None:
            self._writer = self._tasks.spawn(self._write(), name="device-offline")

    def cancel(self, key: DeviceKey) -> None:
        """The device is saying hello again: a pending offline mark would now be wrong.

        A batch already being written can still land after the device's new ``connected`` write; the
        next ``seen`` touch (``HubConfig.touch_interval_s``) puts it right.
        """
        self._pending.pop(key, None)

    async def _write(self) -> None:
        try:
            while self._pending:
                # Filtered at write time, not at close time: a device that came back meanwhile is not offline.
                batch = [key for key in self._pending if not self._connected(key)]
                self._pending.clear()
                if not batch:
                    continue
                try:
                    await self._devices.disconnected(batch)
                except Exception:
                    log.exception("device disconnect bookkeeping failed for %d devices", len(batch))
        finally:
            self._writer = None  # no await between the last check of ``_pending`` and here: nothing is stranded

    async def flush(self, timeout: float) -> None:
        """Wait (bounded) until everything recorded so far is written; the drain's last chance for it."""
        writer = self._writer
        if writer is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(writer), max(0.0, timeout))
        except TimeoutError:
            log.warning("device offline bookkeeping unfinished at shutdown: %d devices left online", len(self))
            writer.cancel()
