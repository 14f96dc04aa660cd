"""One process's login throttle: counters in dicts. ``try_reserve`` never awaits, so it is atomic on the loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.throttle.base import PENDING_TTL_S, Attempt, LoginThrottle, Throttled, ThrottleLimits, attempt_for

__all__ = ["MemoryLoginThrottle"]

_SWEEP_EVERY = 1000


@dataclass(slots=True)
class _Counter:
    failed: dict[str, float] = field(default_factory=dict)  # token -> when it failed
    pending: dict[str, float] = field(default_factory=dict)  # token -> when it was reserved

    def prune(self, now: float, span: float) -> None:
        for table, horizon in ((self.failed, now - span), (self.pending, now - PENDING_TTL_S)):
            for token in [t for t, at in table.items() if at <= horizon]:
                del table[token]

    def __bool__(self) -> bool:
        return bool(self.failed or self.pending)


class MemoryLoginThrottle:
    def __init__(self, limits: ThrottleLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._pair: dict[str, _Counter] = {}
        self._address: dict[str, _Counter] = {}
        self._account: dict[str, _Counter] = {}
        self._known: dict[str, dict[str, float]] = {}  # username -> address -> last success
        self._reserves = 0

    def _counters(self, attempt: Attempt) -> list[tuple[dict[str, _Counter], str, int, float]]:
        lim = self._limits
        return [
            (self._pair, _pair_key(attempt), lim.per_pair, lim.window_s),
            (self._address, attempt.address, lim.per_address, lim.window_s),
            (self._account, attempt.username, lim.per_account, lim.account_window_s),
        ]

    async def try_reserve(self, username: str, address: str) -> Attempt | None:
        attempt = attempt_for(username, address)
        now = self._clock()
        self._reserves += 1
        if self._reserves % _SWEEP_EVERY == 0:
            self._sweep(now)
        wait, crowded = 0.0, False
        for table, key, limit, span in self._counters(attempt):
            counter = table.get(key)
            if counter is None:
                continue
            counter.prune(now, span)
            if table is self._account and self._is_known(attempt, now):
                continue  # the user's own addresses are never locked out by strangers' guesses
            if len(counter.failed) >= limit:
                wait = max(wait, min(counter.failed.values()) + span - now)
            elif len(counter.failed) + len(counter.pending) >= limit:
                crowded = True
        if wait > 0:
            raise Throttled(wait)
        if crowded:
            return None
        for table, key, _, _ in self._counters(attempt):
            table.setdefault(key, _Counter()).pending[attempt.token] = now
        return attempt

    async def settle(self, attempt: Attempt, *, succeeded: bool) -> None:
        now = self._clock()
        for table, key, _, _ in self._counters(attempt):
            counter = table.get(key)
            if counter is None:
                continue
            if counter.pending.pop(attempt.token, None) is not None and not succeeded:
                counter.failed[attempt.token] = now
            if succeeded and table is self._pair:
                counter.failed.clear()  # the user got in from here: earlier typos no longer count
            if not counter:
                del table[key]
        if succeeded:
            self._known.setdefault(attempt.username, {})[attempt.address] = now

    async def cancel(self, attempt: Attempt) -> None:
        for table, key, _, _ in self._counters(attempt):
            counter = table.get(key)
            if counter is not None:
                counter.pending.pop(attempt.token, None)
                if not counter:
                    del table[key]

    def _is_known(self, attempt: Attempt, now: float) -> bool:
        seen = self._known.get(attempt.username, {}).get(attempt.address)
        return seen is not None and seen >= now - self._limits.known_s

    def _sweep(self, now: float) -> None:
        """Drop counters nobody touched within their window (many usernames tried once each)."""
        lim = self._limits
        for table, span in ((self._pair, lim.window_s), (self._address, lim.window_s)):
            _sweep_table(table, now, span)
        _sweep_table(self._account, now, lim.account_window_s)
        for user in list(self._known):
            addresses = {a: t for a, t in self._known[user].items() if t >= now - lim.known_s}
            if addresses:
                self._known[user] = addresses
            else:
                del self._known[user]


def _pair_key(attempt: Attempt) -> str:
    return f"{attempt.username}|{attempt.address}"


def _sweep_table(table: dict[str, _Counter], now: float, span: float) -> None:
    for key in list(table):
        table[key].prune(now, span)
        if not table[key]:
            del table[key]


_check: type[LoginThrottle] = MemoryLoginThrottle
