"""Broker helpers for tests that publish straight to a broker."""

from __future__ import annotations

from typing import Any

from hub.broker.base import Broker
from hub.history import Publication

__all__ = ["stored"]


async def stored(broker: Broker, topic: str, event: str, data: bytes, **options: Any) -> Publication:
    """Publish and return the stored publication (a test that expects a repeat calls ``publish`` itself)."""
    pub = await broker.publish(topic, event, data, **options)
    assert pub is not None, "the broker skipped this publication as a repeat"
    return pub
