"""The uvicorn options a hub process serves with: the hub's socket protocol and whom to believe for addresses."""

from __future__ import annotations

from typing import Any

from app.settings import Settings
from hub.server import uvicorn_ws_options

__all__ = ["uvicorn_options"]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run`` shared by ``serve`` and the tests' servers.

    ``X-Forwarded-For``/``-Proto`` are believed only from ``HUB_TRUSTED_PROXIES`` (the load balancer):
    the client address feeds the login throttle, so a client must not be able to choose its own.

    The listen backlog is the kernel's queue of connections the event loop has not accepted yet. When a
    node restarts under thousands of tablets they all connect within a second; uvicorn's 2048 overflowed
    (hundreds of 5,000 connections dropped, each back only after a TCP retransmit, a second or more later).
    """
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    options = uvicorn_ws_options(settings.hub_config())
    options["backlog"] = settings.listen_backlog
    options["proxy_headers"] = bool(proxies)
    if proxies:
        options["forwarded_allow_ips"] = proxies
    return options
