"""Guest routes per client address: a token bucket in this process (protocol.md §4.3 "rate-limited").

Guests are anonymous, so the address is all there is. The login throttle (``app.throttle``)
counts failures, not requests, so it does not fit; this is the classic bucket: ``per_min``
requests of burst, refilled at ``per_min`` a minute. Per node: behind a load balancer that
spreads one address over N nodes an address gets up to N times the rate, which still bounds a
flood. The payment webhook is not limited (it is signed, and the provider must get through).
"""

from __future__ import annotations

import math
import time

from app.codes import ErrorCode
from app.errors import ApiError

__all__ = ["GuestRateLimit"]

MAX_ADDRESSES = 10_000


class GuestRateLimit:
    def __init__(self, per_min: int) -> None:
        self._capacity = float(max(1, per_min))
        self._rate = self._capacity / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def check(self, address: str) -> None:
        """Take one request from ``address``'s bucket.

        Raises:
            ApiError: 429 ``rate_limited`` with ``Retry-After`` when the bucket is empty.
        """
        now = time.monotonic()
        tokens, at = self._buckets.get(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            retry = max(1, math.ceil((1.0 - tokens) / self._rate))
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                f"too many requests from this address: at most {int(self._capacity)} a minute",
                headers={"Retry-After": str(retry)},
            )
        if len(self._buckets) >= MAX_ADDRESSES and address not in self._buckets:
            self._prune(now)
        self._buckets[address] = (tokens - 1.0, now)

    def _prune(self, now: float) -> None:
        """Forget addresses whose buckets have refilled (they are as if never seen); all of them if none has."""
        full = [a for a, (t, at) in self._buckets.items() if t + (now - at) * self._rate >= self._capacity]
        for address in full or list(self._buckets):
            del self._buckets[address]
