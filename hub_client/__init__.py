"""A small asyncio client for the FusionX hub (protocol.md): REST, a resilient socket, snapshot-then-stream.

::

    async with Api("http://127.0.0.1:8000") as api:
        await api.login("chef", "password")
        shift = await api.get("/api/shifts/active", truck_id=1)
        async with HubSocket(api.ws_url, api) as socket:
            async for update in follow_kds(api, socket, shift["id"]):
                print(len(update.view.tickets), "open;", update.event and update.event.event)
"""

from __future__ import annotations

from hub_client.api import Api, StaticToken, TokenProvider, Tokens
from hub_client.errors import (
    ApiError,
    CommandError,
    ConnectionLost,
    HubClientError,
    HubClosed,
    HubUnreachable,
    LoginRequired,
)
from hub_client.frames import Event, Item, Position, Resync, Status, is_reliable
from hub_client.kds import KdsUpdate, KdsView, Snapshot, follow_kds, snapshot_then_stream
from hub_client.reconnect import Action, Backoff, after_close
from hub_client.socket import HubSocket
from hub_client.subscription import Subscription

__all__ = [
    "Action",
    "Api",
    "ApiError",
    "Backoff",
    "CommandError",
    "ConnectionLost",
    "Event",
    "HubClientError",
    "HubClosed",
    "HubSocket",
    "HubUnreachable",
    "Item",
    "KdsUpdate",
    "KdsView",
    "LoginRequired",
    "Position",
    "Resync",
    "Snapshot",
    "StaticToken",
    "Status",
    "Subscription",
    "TokenProvider",
    "Tokens",
    "after_close",
    "follow_kds",
    "is_reliable",
    "snapshot_then_stream",
]
