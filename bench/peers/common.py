"""The uvicorn settings every compared server runs with, so only the application differs.

The hub runs through ``python -m app serve`` (uvloop, httptools, no access log, its own
subclass of uvicorn's websockets-sansio protocol); the peers get the same loop, parser,
websocket implementation, ping interval, frame limit and no compression.
"""

from __future__ import annotations

import argparse
import resource
from typing import Any

import uvicorn

__all__ = ["HEARTBEAT_S", "parse_port", "serve"]

HEARTBEAT_S = 20.0  # the hub's default HUB_HEARTBEAT_S


def parse_port(description: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    return int(parser.parse_args().port)


def serve(app: Any, port: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=65536,
        ws_ping_interval=HEARTBEAT_S,
        ws_ping_timeout=HEARTBEAT_S,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
