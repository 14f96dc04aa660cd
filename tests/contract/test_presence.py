"""Contract suite for PresenceStore implementations."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.presence import MemoryPresence, PresenceMember, PresenceStore


@pytest.fixture(params=["memory"])
async def presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    store = MemoryPresence()
    yield store
    await store.close()


async def test_add_list_remove(presence: PresenceStore) -> None:
    a = PresenceMember("c1", 3, "tablet-7", "kds", 1.0)
    b = PresenceMember("c2", 4, None, None, 2.0)
    await presence.add("kds:1", a)
    await presence.add("kds:1", b)
    await presence.add("kds:2", a)
    assert await presence.members("kds:1") == [a, b]
    await presence.remove("kds:1", "c1")
    assert await presence.members("kds:1") == [b]
    assert await presence.members("kds:2") == [a]
    await presence.remove("kds:9", "nobody")
    assert await presence.members("kds:9") == []
