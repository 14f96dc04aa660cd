"""Peer (b): python-socketio's AsyncServer (ASGI) on uvicorn. ``python -m bench.peers.sio --port N``.

The same protocol subset as the naive peer, as Socket.IO events over Engine.IO v4:
``hello`` → ``welcome``, ``subscribe`` → room join + ``subscribed``, ``publish`` →
``emit("event", <hub-shaped event>, room=topic)``, ``gps`` → ``emit("event", <gps.position
on gps:fleet>, room="gps:fleet")`` (a number per socket as ``driver_id``; no validation, no
conflation). Defaults otherwise (async handlers, no message queue); the Engine.IO ping
interval is set to the hub's heartbeat.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.peers.common import HEARTBEAT_S, parse_port, serve

__all__ = ["app", "sio"]

EPOCH = "socketio"
sio = socketio.AsyncServer(async_mode="asgi", ping_interval=HEARTBEAT_S, ping_timeout=HEARTBEAT_S)
seqs: dict[str, int] = {}
driver_ids: dict[str, int] = {}
_numbers = itertools.count(1)


async def hello(sid: str, data: Any) -> None:
    await sio.emit("welcome", {"type": "welcome", "conn_id": sid, "heartbeat_s": HEARTBEAT_S}, to=sid)


async def subscribe(sid: str, data: dict[str, Any]) -> None:
    topic = data["topic"]
    await sio.enter_room(sid, topic)
    reply = {"type": "subscribed", "id": data.get("id"), "topic": topic, "seq": seqs.get(topic, 0)}
    await sio.emit("subscribed", {**reply, "epoch": EPOCH, "recovered": False, "conflated": False}, to=sid)


def _event(topic: str, event: str, data: Any) -> tuple[int, dict[str, Any]]:
    seq = seqs[topic] = seqs.get(topic, 0) + 1
    frame = {"type": "event", "topic": topic, "seq": seq, "epoch": EPOCH, "event": event, "data": data}
    return seq, {**frame, "ts": time.time()}


async def publish(sid: str, data: dict[str, Any]) -> None:
    topic = data["topic"]
    seq, event = _event(topic, data["event"], data.get("data"))
    await sio.emit("event", event, room=topic)
    if data.get("id") is not None:
        await sio.emit("published", {"type": "published", "id": data["id"], "topic": topic, "seq": seq}, to=sid)


async def gps(sid: str, data: dict[str, Any]) -> None:
    driver = driver_ids.get(sid) or driver_ids.setdefault(sid, next(_numbers))
    position = {k: data.get(k) for k in ("lat", "lon", "ts", "accuracy", "speed", "heading")}
    _, event = _event("gps:fleet", "gps.position", {"driver_id": driver, **position})
    await sio.emit("event", event, room="gps:fleet")


async def disconnect(sid: str) -> None:
    driver_ids.pop(sid, None)


sio.on("hello", hello)
sio.on("subscribe", subscribe)
sio.on("publish", publish)
sio.on("gps", gps)
sio.on("disconnect", disconnect)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = socketio.ASGIApp(sio, other_asgi_app=Starlette(routes=[Route("/healthz", healthz)]))

if __name__ == "__main__":
    serve(app, parse_port("python-socketio hub (bench peer)"))
