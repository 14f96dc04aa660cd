"""What uvicorn must be told to serve the hub's sockets with :class:`~hub.server.protocol.HubWebSocketProtocol`."""

from __future__ import annotations

from typing import Any

from hub.config import HubConfig
from hub.server.protocol import HubWebSocketProtocol

__all__ = ["uvicorn_ws_options"]


def uvicorn_ws_options(config: HubConfig) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that make the server honour ``config``.

    The heartbeat is the hub's own (one timer for every socket), so uvicorn's per-connection
    pings stay off; ``ws_max_size`` is the largest message (larger ones close 1009).
    """
    protocol: type[HubWebSocketProtocol] = HubWebSocketProtocol
    if config.send_buffer_bytes > 0:
        protocol = type(
            "CappedHubWebSocketProtocol", (HubWebSocketProtocol,), {"send_buffer": config.send_buffer_bytes}
        )
    return {
        "ws": protocol,
        "ws_max_size": config.max_frame_bytes,
        "ws_ping_interval": None,
        "ws_ping_timeout": None,
        "ws_per_message_deflate": False,  # identical bytes for every subscriber
        "timeout_graceful_shutdown": config.server_drain_s,  # the rest of drain_s is the lifespan's (hub.drain)
    }
