"""Which passwords the hub accepts: NIST SP 800-63B style, no composition rules.

At least 8 characters (at most 256), not one of the 30,000 most common passwords (the list
zxcvbn ships), not built on the username or the product's name. Length and rarity protect an
account; "one digit and one symbol" rules only make passwords harder to remember.
"""

from __future__ import annotations

import functools

from zxcvbn.frequency_lists import FREQUENCY_LISTS

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "password_problem"]

MIN_LENGTH = 8
MAX_LENGTH = 256
_CONTEXT_WORDS = ("fusionx", "fusion", "foodtruck", "kitchen")


@functools.cache
def _common() -> frozenset[str]:
    """Loaded once, on first use (the list is constant data)."""
    return frozenset(w for w in FREQUENCY_LISTS["passwords"] if len(w) >= MIN_LENGTH)


def password_problem(password: str, *, username: str = "") -> str | None:
    """What is wrong with ``password``, in words a person can act on; None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    lowered = password.lower()
    if lowered in _common():
        return "is one of the most common passwords: choose a less guessable one (a few unrelated words work well)"
    if len(set(lowered)) <= 2:
        return "repeats one or two characters: choose a less guessable one"
    name = username.strip().lower()
    if len(name) >= 3 and name in lowered:
        return "must not contain the username"
    if any(word in lowered for word in _CONTEXT_WORDS) and len(lowered) < MIN_LENGTH + 6:
        return "is mostly the name of this service: choose a less guessable one"
    return None
