"""Helpers for kitchen tests: open a shift, set stock, place orders, collect a topic's events."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from tests.support.server import command, recv
from tests.support.timing import MS

# Seeded menu (app/seed.py): truck 1 sells tacos 1-3, sides 6-7, drinks 8-9; truck 2 curries 4-5.
TACO, PASTOR, FISH, CURRY, FRIES, ELOTE, LEMONADE = 1, 2, 3, 4, 6, 7, 8


async def open_shift(http: httpx.AsyncClient, truck_id: int = 1, **config: int) -> int:
    response = await http.post("/api/shifts", json={"truck_id": truck_id, "location_id": 1})
    assert response.status_code == 201, response.text
    shift_id = int(response.json()["id"])
    if config:
        assert (await http.patch(f"/api/shifts/{shift_id}/config", json=config)).status_code == 200
    return shift_id


async def set_stock(http: httpx.AsyncClient, shift_id: int, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.patch(f"/api/shifts/{shift_id}/inventory", json={"items": list(lines)})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def order(http: httpx.AsyncClient, shift_id: int, *lines: tuple[int, int], **extra: Any) -> httpx.Response:
    body = {"items": [{"item_id": item, "qty": qty} for item, qty in lines], **extra}
    return await http.post(f"/api/shifts/{shift_id}/orders", json=body)


async def subscribe(ws: ClientConnection, topic: str, **extra: Any) -> dict[str, Any]:
    reply = await command(ws, {"type": "subscribe", "id": topic, "topic": topic, **extra})
    assert reply["type"] == "subscribed", reply
    return reply


async def events_until(ws: ClientConnection, done: Any, timeout: float = 5000 * MS) -> list[dict[str, Any]]:
    """Read event frames until ``done(event)`` is true for one (included); fails on timeout."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, timeout)
            if frame["type"] != "event":
                continue
            seen.append(frame)
            if done(frame):
                return seen


async def stock_of(http: httpx.AsyncClient, shift_id: int, item_id: int) -> dict[str, Any]:
    menu = (await http.get(f"/api/shifts/{shift_id}/menu")).json()
    for entry in [*menu["specials"], *(i for c in menu["categories"] for i in c["items"])]:
        if entry["id"] == item_id:
            return dict(entry)
    raise AssertionError(f"item {item_id} not on shift {shift_id}'s menu")
