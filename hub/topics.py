"""Topic names, families and their delivery policy (protocol.md §2.4).

A topic is ``family`` or ``family:key``. The application registers the families
it serves; an unknown family is ``not_found``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from hub.codes import ErrorCode
from hub.errors import ProtocolError
from hub.protocol.commands import CommandId

__all__ = ["KEY_PATTERN", "TOKEN_KEY_PATTERN", "Delivery", "Topic", "TopicFamily", "TopicRegistry"]

Delivery = Literal["reliable", "conflated"]
Snapshot = Callable[["Topic"], Awaitable[list[tuple[str, str, bytes]]]]
"""What a new subscriber of a conflated topic starts from: ``(key, event, data)`` per key (e.g. every driver)."""
KEY_PATTERN = "[1-9][0-9]{0,17}"
"""A topic key: a positive integer without leading zeros (what the AsyncAPI document publishes too)."""
TOKEN_KEY_PATTERN = "[A-Za-z0-9_-]{16,64}"
"""The key of a ``token_keys`` family (e.g. a guest's order token)."""
_INT_KEY = re.compile(KEY_PATTERN)
_TOKEN_KEY = re.compile(TOKEN_KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class TopicFamily:
    """``name`` is the prefix before the key (``"shift"``, ``"gps:driver"``) or the whole topic (``"gps:fleet"``)."""

    name: str
    delivery: Delivery
    keyed: bool = True
    snapshot: Snapshot | None = None
    """Conflated families: the current value of every key, sent to a new subscriber before live ones."""
    token_keys: bool = False
    """Keys are opaque tokens (16-64 of ``[A-Za-z0-9_-]``, e.g. a guest's order token) rather than ids:
    the parsed :class:`Topic` has ``key`` None and ``token`` set."""
    carried_by: str | None = None
    """A topic whose publications carry this family's too: publications on ``carried_by`` with key K are
    delivered to subscribers of ``{name}:K`` (one broker publication serves both topics)."""


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    family: TopicFamily
    key: int | None
    token: str | None = None
    """The key of a ``token_keys`` family."""

    @property
    def reliable(self) -> bool:
        return self.family.delivery == "reliable"


class TopicRegistry:
    """Parses topic names into :class:`Topic` for the registered families."""

    def __init__(self, families: list[TopicFamily]) -> None:
        self._keyed = {f.name: f for f in families if f.keyed}
        self._exact = {f.name: f for f in families if not f.keyed}
        self.carried: dict[str, list[TopicFamily]] = {}
        """carrier topic -> the families it carries."""
        for family in families:
            if family.carried_by is not None:
                self.carried.setdefault(family.carried_by, []).append(family)

    def channel(self, topic: Topic) -> str:
        """The broker channel a subscriber of ``topic`` listens on."""
        return topic.family.carried_by or topic.name

    def family_of(self, name: str) -> str:
        """Family label of a topic for metrics; ``"other"`` for names that do not parse."""
        if name in self._exact:
            return name
        prefix = name.rpartition(":")[0]
        return prefix if prefix in self._keyed else "other"

    def parse(self, name: str, command_id: CommandId = None) -> Topic:
        """Raises ``ProtocolError(not_found)`` for an unknown family or a malformed key."""
        exact = self._exact.get(name)
        if exact is not None:
            return Topic(name, exact, None)
        prefix, sep, key = name.rpartition(":")
        family = self._keyed.get(prefix) if sep else None
        if family is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"unknown topic family in {name[:64]!r}", command_id)
        if family.token_keys:
            if not _TOKEN_KEY.fullmatch(key):
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no such topic {name[:64]!r}", command_id)
            return Topic(name, family, None, key)
        if not _INT_KEY.fullmatch(key):
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no such topic {name[:64]!r}", command_id)
        return Topic(name, family, int(key))
