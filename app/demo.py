"""``make demo``: a pretend lunch rush on the demo truck, so a newcomer sees tickets flow; ``make watch``: a tablet.

``demo`` logs in as the seeded ``chef``, opens (or reuses) truck 1's shift, counts a few
items, then places an order every ``--every`` seconds and moves older tickets along
(in progress, ready, completed), restocking what sells out. ``watch`` prints the shift's open
tickets, then every ``kds:`` and ``stock:`` event, reconnecting and resuming like a real tablet.
Both talk to a running server (``make run``) through ``hub_client`` only; dev mode only (demo
users). Every failure is one line on stderr and a non-zero exit; Ctrl-C stops them (one line, status 0).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

from hub_client import Api, ApiError, Event, HubClientError, HubSocket, HubUnreachable, Item, Status, follow_kds

__all__ = ["run_demo", "run_watch", "ticket_line"]

NAMES = ["Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Alan", "Radia", "Dennis"]
NOTES = [None, None, None, "no onions", "extra salsa", "allergy: peanuts", "to go"]
MODIFIERS = [[], [], ["no onion"], ["extra cheese"], ["spicy"]]
COUNTED = {1: 40, 3: 15, 6: 60}  # carne asada, fish taco, fries (seeded ids)
TRUCK = 1


def _run(name: str, base: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` and turn every way it can end into one line and an exit status."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Ctrl-C is how these end: status 0, so `make` adds no "Error 130" line
        print(f"\n{name}: stopped", file=sys.stderr)
    except HubUnreachable:
        print(f"fusionx-hub: no hub answers at {base}: start it with `make run`", file=sys.stderr)
        raise SystemExit(1) from None
    except HubClientError as exc:
        print(f"fusionx-hub: {name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


async def _login(api: Api) -> int:
    """Log in as the demo chef and return truck 1's open shift (opened, or resumed, if need be)."""
    try:
        await api.login("chef", "password")
    except ApiError as exc:
        message = "login as chef failed: is this a dev server seeded with demo data?"
        raise ApiError(exc.code, exc.status, message) from None
    try:
        shift = await api.get("/api/shifts/active", truck_id=TRUCK)
    except ApiError as exc:
        if exc.status != 404:
            raise
        shift = await api.post("/api/shifts", {"truck_id": TRUCK, "location_id": 1})
    if shift["status"] == "paused":
        await api.post(f"/api/shifts/{shift['id']}/resume")
    return int(shift["id"])


def run_demo(base: str, every: float, count: int | None) -> None:
    _run("demo", base, lambda: _demo(base, every, count))


async def _demo(base: str, every: float, count: int | None) -> None:
    async with Api(base) as api:
        shift_id = await _login(api)
        await api.patch(f"/api/shifts/{shift_id}/config", {"max_orders_per_slot": 1000, "slot_minutes": 15})
        stock = [{"item_id": i, "stock": n, "low_threshold": max(2, n // 8)} for i, n in COUNTED.items()]
        await api.patch(f"/api/shifts/{shift_id}/inventory", {"items": stock})
        menu = await api.get(f"/api/shifts/{shift_id}/menu")
        items = [i for c in menu["categories"] for i in c["items"]]
        print(
            f"demo: an order on shift {shift_id} of truck {TRUCK} every {every}s (Ctrl-C stops); see them: make watch"
        )
        placed, rng = 0, random.Random()
        while count is None or placed < count:
            placed += await _place(api, shift_id, items, rng)
            await _move_tickets(api, shift_id, rng)
            await asyncio.sleep(every * rng.uniform(0.5, 1.5))


async def _place(api: Api, shift_id: int, items: list[dict[str, Any]], rng: random.Random) -> int:
    lines = [
        {"item_id": item["id"], "qty": rng.choice([1, 1, 1, 2, 3]), "modifiers": rng.choice(MODIFIERS)}
        for item in rng.sample(items, k=rng.randint(1, 3))
    ]
    body = {"items": lines, "customer_name": rng.choice(NAMES), "note": rng.choice(NOTES)}
    try:
        ticket = await api.post(f"/api/shifts/{shift_id}/orders", body)
    except ApiError as exc:
        if exc.code != "sold_out":
            print(f"      refused ({exc.status} {exc.code}): {exc.message}")
            return 0
        print(f"      sold out: {exc.message} -> restocking")
        item = (exc.details or {}).get("item_id")
        if item in COUNTED:
            await api.patch(f"/api/shifts/{shift_id}/inventory", {"items": [{"item_id": item, "stock": COUNTED[item]}]})
        return 0
    print(f"{ticket_line(ticket)}  ({ticket['total_cents'] / 100:.2f})")
    return 1


async def _move_tickets(api: Api, shift_id: int, rng: random.Random) -> None:
    """Cooks start the oldest new ticket, finish one in progress; the pass completes what is ready."""
    tickets = (await api.get(f"/api/shifts/{shift_id}/kds"))["tickets"]
    for status, to in (("ready", "completed"), ("in_progress", "ready"), ("new", "in_progress")):
        waiting = [t for t in tickets if t["status"] == status and not t["held"]]
        if waiting and (status != "new" or len(waiting) > 2 or rng.random() < 0.5):
            await api.post(f"/api/orders/{waiting[0]['id']}/advance", {"to": to})


def ticket_line(ticket: dict[str, Any]) -> str:
    """``#  12 in_progress  Ada        2x Carne asada (no onion), 1x Fries  "to go"``: one ticket, one line."""
    items = ", ".join(
        f"{line['qty']}x {line['name']}" + (f" ({', '.join(line['modifiers'])})" if line.get("modifiers") else "")
        for line in ticket["items"]
    )
    status = ticket["status"] + (" (held)" if ticket.get("held") else "")
    note = f'  "{ticket["note"]}"' if ticket.get("note") else ""
    return f"#{ticket['number']:>4} {status:<12} {ticket.get('customer_name') or '-':<10} {items}{note}"


def run_watch(base: str) -> None:
    _run("watch", base, lambda: _watch(base))


class _Banner:
    """Offline is shown, never hidden: one line when the socket drops, one when it is back."""

    def __init__(self) -> None:
        self.offline = False

    def __call__(self, status: Status) -> None:
        if status.state == "offline":
            self.offline = True
            wait = status.retry_in or 0.0
            print(f"      offline ({status.code} {status.reason}): retrying in {wait:.1f} s", flush=True)
        elif status.state == "open" and self.offline:
            self.offline = False
            print("      back online: resuming", flush=True)


def _stock(item: Item) -> None:
    if isinstance(item, Event):
        data = item.data
        print(f"{item.seq:>5} {item.event:<17} {data['name']}: {data['remaining']} left", flush=True)


async def _watch(base: str) -> None:
    async with Api(base) as api:
        shift_id = await _login(api)
        device = {"id": "make-watch", "kind": "kds"}
        async with HubSocket(api.ws_url, api, device=device, on_status=_Banner()) as socket:
            await socket.subscribe(f"stock:{shift_id}", on_item=_stock)
            async with aclosing(follow_kds(api, socket, shift_id)) as updates:
                loaded = False
                async for update in updates:
                    event = update.event
                    if event is not None:
                        print(f"{event.seq:>5} {event.event:<17} {ticket_line(event.data)}", flush=True)
                        continue
                    tickets = update.view.open_tickets()
                    if loaded:  # recovered: false (e.g. the server restarted): what was missed is in the snapshot
                        print(f"      the hub could not replay what was missed: reloaded, {len(tickets)} open tickets")
                    else:
                        print(f"shift {shift_id} of truck {TRUCK}: {len(tickets)} open tickets (Ctrl-C stops)")
                    for ticket in tickets:
                        print(f"      {ticket_line(ticket)}")
                    if not loaded:
                        print(f"watching kds:{shift_id} and stock:{shift_id}", flush=True)
                    loaded = True
