"""What every lean client of one bench process counts together (frames, samples, closes), and who waits on it."""

from __future__ import annotations

import asyncio

__all__ = ["NEVER", "UNWATCHED", "Shared"]

NEVER = -1  # a countdown value no frame count reaches: sampling off
UNWATCHED = 1 << 62  # a total no run reaches: nobody waits


class Shared:
    """Counters of every connection of one client process (one event loop, no locking)."""

    __slots__ = (
        "closed", "countdown", "every", "frame_bytes", "last_rx", "live", "sample_errors", "samples", "total",
        "wake_at", "woken",
    )  # fmt: skip

    def __init__(self) -> None:
        self.total = 0
        self.every = 0
        self.countdown = NEVER
        self.samples: list[float] = []
        self.sample_errors = 0
        self.frame_bytes = 0
        self.last_rx = 0.0
        self.live = 0
        self.closed: dict[int, int] = {}
        # A waiter (the worker's ``wait``) is woken once ``total`` reaches ``wake_at``: no polling tick
        # between a closed-loop publisher's windows.
        self.wake_at = UNWATCHED
        self.woken: asyncio.Event | None = None

    def reset(self, every: int) -> None:
        """Zero the counters; sample one frame in ``every`` (0: no sampling)."""
        self.total = 0
        self.every = every
        self.countdown = every if every > 0 else NEVER
        self.samples = []
        self.sample_errors = 0
        self.last_rx = 0.0
