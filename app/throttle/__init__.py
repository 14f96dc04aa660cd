"""Login throttling (see :mod:`app.throttle.base` for what is limited and why)."""

from __future__ import annotations

from app.throttle.base import Attempt, LoginThrottle, Throttled, ThrottleLimits, reserve
from app.throttle.memory import MemoryLoginThrottle

__all__ = ["Attempt", "LoginThrottle", "MemoryLoginThrottle", "ThrottleLimits", "Throttled", "reserve"]
