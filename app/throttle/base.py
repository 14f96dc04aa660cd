"""Login throttling: what is limited, and the reserve-then-settle interface that makes it atomic.

Every attempt *reserves* a place in each of its counters before the password is checked, in
one atomic step; a success gives the reservation back, a failure turns it into a counted
failure. A counter is full when its failures and pending reservations reach the limit: full
of failures means 429; full only because attempts are still being checked means "wait for
them" (:func:`reserve`), so a burst of logins from one kitchen's address is queued, not
refused, while thirty parallel guesses for one username meet the limit exactly as thirty
sequential ones do (a check, then an increment after the slow hash, let all thirty through).

Three counters, so that a guesser is bounded without being able to lock a user out:

- **username from one address** (``per_pair`` failures per ``window_s``): what a user mistyping
  a password meets. A guesser elsewhere does not fill this counter, so it cannot lock the user
  out of their own address.
- **address** (``per_address`` failures per ``window_s``, every username): one machine spraying
  many usernames.
- **account** (``per_account`` failures per hour, every address): a guesser spread over many
  addresses. Once it is full, the username is refused from addresses it never logged in from
  in ``known_s``; addresses where the user logged in recently still work (each under its own
  ``per_pair`` limit). So an account takes at most ``per_account`` guesses an hour from
  strangers, plus ``per_pair`` per window from each address it actually uses.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["PENDING_TTL_S", "Attempt", "LoginThrottle", "ThrottleLimits", "Throttled", "reserve"]

PENDING_TTL_S = 60.0
"""A reservation older than this was left by a process that died mid-login: it no longer counts."""


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_pair: int = 5
    per_address: int = 20
    window_s: float = 300.0
    per_account: int = 50
    account_window_s: float = 3600.0
    known_s: float = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reservation in each counter; ``tracked`` is False when the store could not be reached (fail open)."""

    username: str
    address: str
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    tracked: bool = True


class Throttled(Exception):
    def __init__(self, retry_after_s: float, *, busy: bool = False) -> None:
        super().__init__(f"too many {'logins at once' if busy else 'failed logins'}: retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s
        self.busy = busy


def attempt_for(username: str, address: str) -> Attempt:
    """Usernames compare case-insensitively, like the login itself should feel."""
    return Attempt(username.strip().lower(), address)


class LoginThrottle(Protocol):
    async def try_reserve(self, username: str, address: str) -> Attempt | None:
        """Take a place in every counter, atomically; None when a counter is full of pending attempts.

        Raises:
            Throttled: a counter is full of failures; nothing was reserved.
        """
        ...

    async def settle(self, attempt: Attempt, *, succeeded: bool) -> None:
        """A success frees the reservation (and marks the address known); a failure keeps it."""
        ...

    async def cancel(self, attempt: Attempt) -> None:
        """The attempt never happened (e.g. the hashing pool was busy): free the reservation."""
        ...


async def reserve(throttle: LoginThrottle, username: str, address: str, *, wait_s: float) -> Attempt:
    """Reserve, waiting up to ``wait_s`` for pending attempts of the same counters to settle.

    Raises:
        Throttled: too many failures (429), or still full of pending attempts after ``wait_s`` (then
            ``busy`` is set: the caller answers 503).
    """
    deadline = time.monotonic() + wait_s
    delay = 0.01
    while True:
        attempt = await throttle.try_reserve(username, address)
        if attempt is not None:
            return attempt
        if time.monotonic() >= deadline:
            raise Throttled(max(1.0, wait_s / 2), busy=True)
        # Pending attempts settle within one hash; poll (other nodes' attempts cannot notify us).
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(0.1, delay * 2)
