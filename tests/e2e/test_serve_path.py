"""The hub as ``make run`` serves it: ``python -m app serve`` in its own process (uvloop, httptools).

The in-process test server runs on pytest's asyncio loop; these tests cover what only the real
command line exercises (uvloop's transports, the process's own signal handling).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.settings import Settings
from tests.support.nodes import hub_process
from tests.support.server import command, recv

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.mark.timeout(60)
async def test_send_buffer_cap_under_the_real_serve_path_still_delivers(settings: Settings) -> None:
    """``HUB_SEND_BUFFER_BYTES`` once refused every socket under uvloop (its transport is no
    ``asyncio.WriteTransport``). With a 4 KiB cap, events far larger than the cap all arrive, in order."""
    async with hub_process(replace(settings, node_id="capped"), HUB_SEND_BUFFER_BYTES="4096") as node:
        tablet = await node.as_user("chef")
        assert (await command(tablet, {"type": "subscribe", "id": 1, "topic": "notice:1"}))["type"] == "subscribed"
        manager = await node.as_user("manager")
        text = "x" * 20_000  # five times the cap: each frame goes out through the backpressure path
        for i in range(10):
            frame = {"type": "publish", "id": i, "topic": "notice:1", "event": "notice.posted", "data": {"i": i}}
            if i % 2:
                frame["data"] = {"i": i, "text": text}
            assert (await command(manager, frame))["type"] == "published"
        events = [await recv(tablet) for _ in range(10)]
        assert [e["data"]["i"] for e in events] == list(range(10))
        assert [e["seq"] for e in events] == list(range(1, 11))
