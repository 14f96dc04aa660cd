"""``make demo``: a pretend lunch rush on the demo truck, so a newcomer sees tickets flow; ``make watch``: a tablet.

``demo`` logs in as the seeded ``chef``, opens (or reuses) truck 1's shift, counts a few
items, then places an order every ``--every`` seconds and moves older tickets along
(in progress, ready, completed), restocking what sells out. ``watch`` subscribes to the
shift's ``kds:`` and ``stock:`` topics and prints every event. Both talk to a running
server (``make run``) over its public API only; dev mode only (demo users).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
import urllib.request
from typing import Any

import websockets

__all__ = ["run_demo", "run_watch"]

NAMES = ["Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Alan", "Radia", "Dennis"]
NOTES = [None, None, None, "no onions", "extra salsa", "allergy: peanuts", "to go"]
MODIFIERS = [[], [], ["no onion"], ["extra cheese"], ["spicy"]]
COUNTED = {1: 40, 3: 15, 6: 60}  # carne asada, fish taco, fries (seeded ids)


class Api:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def login(self, username: str) -> dict[str, Any]:
        status, body = self.call("POST", "/api/auth/login", {"username": username, "password": "password"})
        if status != 200:
            raise SystemExit(f"login as {username} failed ({status}): is this a dev server seeded with demo data?")
        self.token = body["access_token"]
        return dict(body)

    def shift(self, truck_id: int = 1) -> int:
        status, body = self.call("GET", f"/api/shifts/active?truck_id={truck_id}")
        if status == 404:
            status, body = self.call("POST", "/api/shifts", {"truck_id": truck_id, "location_id": 1})
        if status not in (200, 201):
            raise SystemExit(f"could not open a shift ({status}): {body}")
        shift_id = int(body["id"])
        if body["status"] == "paused":
            self.call("POST", f"/api/shifts/{shift_id}/resume")
        return shift_id


def run_demo(base: str, every: float, count: int | None) -> None:
    api = Api(base)
    api.login("chef")
    shift_id = api.shift()
    api.call("PATCH", f"/api/shifts/{shift_id}/config", {"max_orders_per_slot": 1000, "slot_minutes": 15})
    stock = [{"item_id": i, "stock": n, "low_threshold": max(2, n // 8)} for i, n in COUNTED.items()]
    api.call("PATCH", f"/api/shifts/{shift_id}/inventory", {"items": stock})
    _, menu = api.call("GET", f"/api/shifts/{shift_id}/menu")
    items = [i for c in menu["categories"] for i in c["items"]]
    print(f"demo: placing orders on shift {shift_id} of truck 1 every {every}s (Ctrl-C stops); watch: make watch")
    placed = 0
    rng = random.Random()
    while count is None or placed < count:
        lines = [
            {"item_id": item["id"], "qty": rng.choice([1, 1, 1, 2, 3]), "modifiers": rng.choice(MODIFIERS)}
            for item in rng.sample(items, k=rng.randint(1, 3))
        ]
        body = {"items": lines, "customer_name": rng.choice(NAMES), "note": rng.choice(NOTES)}
        status, answer = api.call("POST", f"/api/shifts/{shift_id}/orders", body)
        if status == 201:
            placed += 1
            what = ", ".join(f"{i['qty']}x {i['name']}" for i in answer["items"])
            print(f"#{answer['number']:>4} {answer['customer_name']:<9} {what}  ({answer['total_cents'] / 100:.2f})")
        elif status == 409 and answer["error"]["code"] == "sold_out":
            item = answer["error"]["details"].get("item_id")
            print(f"      sold out: {answer['error']['message']} -> restocking")
            if item in COUNTED:
                restock = {"items": [{"item_id": item, "stock": COUNTED[item]}]}
                api.call("PATCH", f"/api/shifts/{shift_id}/inventory", restock)
        else:
            print(f"      refused ({status}): {answer['error']['message']}")
        _move_tickets(api, shift_id, rng)
        time.sleep(every * rng.uniform(0.5, 1.5))


def _move_tickets(api: Api, shift_id: int, rng: random.Random) -> None:
    """Cooks start the oldest new ticket, finish one in progress; the pass completes what is ready."""
    _, kds = api.call("GET", f"/api/shifts/{shift_id}/kds")
    tickets = kds["tickets"]
    for status, to in (("ready", "completed"), ("in_progress", "ready"), ("new", "in_progress")):
        waiting = [t for t in tickets if t["status"] == status and not t["held"]]
        if waiting and (status != "new" or len(waiting) > 2 or rng.random() < 0.5):
            api.call("POST", f"/api/orders/{waiting[0]['id']}/advance", {"to": to})


async def _watch(base: str) -> None:
    api = Api(base)
    token = api.login("chef")["access_token"]
    shift_id = api.shift()
    url = base.replace("http", "ws", 1).rstrip("/") + "/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "device": {"id": "watch", "kind": "kds"}}))
        for topic in (f"kds:{shift_id}", f"stock:{shift_id}"):
            await ws.send(json.dumps({"type": "subscribe", "id": topic, "topic": topic}))
        print(f"watching kds:{shift_id} and stock:{shift_id} (Ctrl-C stops)")
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] != "event":
                continue
            data = frame["data"]
            if frame["topic"].startswith("kds:"):
                held = " (held)" if data["held"] else ""
                print(f"{frame['seq']:>5} {frame['event']:<17} #{data['number']} {data['status']}{held}")
            else:
                print(f"{frame['seq']:>5} {frame['event']:<17} {data['name']}: {data['remaining']} left")


def run_watch(base: str) -> None:
    asyncio.run(_watch(base))
