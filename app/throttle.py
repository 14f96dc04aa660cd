"""Login throttling: failed attempts per username and per client address in a sliding window."""

from __future__ import annotations

import time
from collections import deque

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """In-process; each worker counts its own attempts (a shared Redis store comes with scale-out)."""

    def __init__(self, *, per_user: int, per_address: int, window_s: float) -> None:
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self._window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, username: str, address: str, now: float | None = None) -> float | None:
        """Seconds to wait when either the username or the address is over its limit, else None."""
        now = time.monotonic() if now is None else now
        waits = []
        for scope, value in (("user", username.lower()), ("addr", address)):
            stamps = self._recent((scope, value), now)
            if len(stamps) >= self._limits[scope]:
                waits.append(stamps[0] + self._window - now)
        return max(waits) if waits else None

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in (("user", username.lower()), ("addr", address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(("user", username.lower()), None)
