"""Peer (a): the hub most people would write first. ``python -m bench.peers.naive --port N``.

A dict of sets of Starlette WebSockets and ``await ws.send_text`` in a loop, speaking the
subset of the hub's JSON protocol the bench uses: ``hello`` (any token) → ``welcome``,
``subscribe`` → ``subscribed``, ``publish`` → an ``event`` frame of the hub's shape to
every subscriber (and ``published`` when the command has an ``id``), ``gps`` → a
``gps.position`` event on ``gps:fleet`` (the connection's number as ``driver_id``; no
validation, no conflation).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.peers.common import HEARTBEAT_S, parse_port, serve

__all__ = ["app"]

EPOCH = "naive"
topics: dict[str, set[WebSocket]] = {}
seqs: dict[str, int] = {}
conn_ids = itertools.count(1)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    joined: set[str] = set()
    driver_id = next(conn_ids)
    try:
        hello = json.loads(await ws.receive_text())
        if hello.get("type") != "hello":
            await ws.close(4400)
            return
        await ws.send_text(json.dumps({"type": "welcome", "conn_id": f"naive-{driver_id}", "heartbeat_s": HEARTBEAT_S}))
        while True:
            msg: dict[str, Any] = json.loads(await ws.receive_text())
            kind = msg.get("type")
            if kind == "gps":
                position = {k: msg.get(k) for k in ("lat", "lon", "ts", "accuracy", "speed", "heading")}
                data = {"driver_id": driver_id, **position}
                await publish({"topic": "gps:fleet", "event": "gps.position", "data": data})
            elif kind == "subscribe":
                topic = msg["topic"]
                topics.setdefault(topic, set()).add(ws)
                joined.add(topic)
                reply = {"type": "subscribed", "id": msg.get("id"), "topic": topic, "seq": seqs.get(topic, 0)}
                await ws.send_text(json.dumps({**reply, "epoch": EPOCH, "recovered": False, "conflated": False}))
            elif kind == "publish":
                await publish(msg)
                if msg.get("id") is not None:
                    reply = {"type": "published", "id": msg["id"], "topic": msg["topic"], "seq": seqs[msg["topic"]]}
                    await ws.send_text(json.dumps(reply))
            elif kind == "ping":
                await ws.send_text(json.dumps({"type": "pong", "id": msg.get("id"), "server_time": time.time()}))
    except WebSocketDisconnect:
        pass
    finally:
        for topic in joined:
            topics.get(topic, set()).discard(ws)


async def publish(msg: dict[str, Any]) -> None:
    topic = msg["topic"]
    seq = seqs[topic] = seqs.get(topic, 0) + 1
    frame = json.dumps(
        {
            "type": "event",
            "topic": topic,
            "seq": seq,
            "epoch": EPOCH,
            "event": msg["event"],
            "data": msg.get("data"),
            "ts": time.time(),
        }
    )
    for peer in list(topics.get(topic, ())):
        try:
            await peer.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            topics[topic].discard(peer)


app = Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/ws", ws_endpoint)])

if __name__ == "__main__":
    serve(app, parse_port("naive Starlette hub (bench peer)"))
