"""Helpers for guest ordering tests: place a guest order, sign and send the provider's webhook."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.server import RunningServer, recv

SECRET = "whsec-test-0123456789"


def signature(body: bytes, *, secret: str = SECRET, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


async def guest_order(http: httpx.AsyncClient, shift_id: int, *lines: tuple[int, int], **extra: Any) -> httpx.Response:
    body = {"items": [{"item_id": i, "qty": q} for i, q in lines], "customer_name": "Grace", **extra}
    headers = {k: v for k, v in (("Idempotency-Key", extra.pop("key", None)),) if v}
    body.pop("key", None)
    return await http.post(f"/api/guest/shifts/{shift_id}/orders", json=body, headers=headers)


async def pay(
    http: httpx.AsyncClient,
    token: str,
    amount_cents: int,
    *,
    event_id: str | None = None,
    currency: str = "USD",
    status: str = "succeeded",
    secret: str = SECRET,
    at: int | None = None,
) -> httpx.Response:
    payload = {
        "event_id": event_id or f"evt_{uuid.uuid4().hex}",
        "order_token": token,
        "amount_cents": amount_cents,
        "currency": currency,
        "status": status,
    }
    raw = orjson.dumps(payload)
    headers = {"X-Hub-Signature": signature(raw, secret=secret, at=at), "Content-Type": "application/json"}
    return await http.post("/api/guest/payments/webhook", content=raw, headers=headers)


async def guest_socket(server: RunningServer, order_token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A guest's socket after hello with ``order_token``; returns it and its welcome."""
    ws = await websockets.connect(server.ws_url, max_size=None)
    await ws.send(orjson.dumps({"type": "hello", "order_token": order_token}).decode())
    return ws, await recv(ws)
