"""Presence stores."""

from __future__ import annotations

from hub.presence.base import PresenceMember, PresenceStore
from hub.presence.memory import MemoryPresence

__all__ = ["MemoryPresence", "PresenceMember", "PresenceStore"]
