"""The orders scenario's client process: ``python -m bench.orderload`` (JSON-line commands, :mod:`bench.lines`).

It holds both ends of an order, so one clock (``time.time()`` of this process) times it: a POS
that places orders over REST open-loop — each request has a scheduled send time at a fixed rate
and is sent then whether or not earlier ones were answered, so a slow server cannot slow the
schedule down (no coordinated omission) — and the KDS tablets, lean websocket clients
(:class:`bench.wsclient.WsClient`) subscribed to ``kds:{shift}`` that decode every frame and
note when each ``ticket.created`` arrived. Orders carry a unique ``customer_name`` tag, so a
tablet matches a ticket to its order even before the REST answer is back (the hub publishes
before it answers, protocol.md §3).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import uvloop

from bench.httpclient import HttpError, HttpPool
from bench.lines import serve_lines
from bench.measure import percentiles
from bench.worker import raise_nofile
from bench.wsclient import WsClient
from bench.wscounters import Shared

__all__ = ["ITEMS", "Answer", "Tablet", "main", "open_loop", "place_orders"]

ITEMS = [{"item_id": 1, "qty": 1}, {"item_id": 6, "qty": 2}]  # seeded: a taco (truck 1) and fries (every truck)
_OPEN_TIMEOUT_S = 30.0


class Tablet(WsClient):
    """A KDS tablet: decodes every event frame and records ``(tag, arrival)`` of each ``ticket.created``."""

    def __init__(self, shared: Shared, receipts: list[tuple[str, float]], **kw: Any) -> None:
        super().__init__(shared, **kw)
        self.receipts = receipts

    def _sample(self, data: bytes, start: int, end: int, now: float) -> None:
        try:
            frame = orjson.loads(data[start:end])
            if frame.get("event") == "ticket.created":
                self.receipts.append((str(frame["data"]["customer_name"]), now))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.shared.sample_errors += 1


class OrderLoad:
    def __init__(self) -> None:
        self.shared = Shared()
        self.tablets: list[Tablet] = []

    async def shift(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """A fresh open shift of ``truck_id`` with the throttle out of the way: the open one (if any) is checked
        out first, so each rate step counts only its own orders against ``max_orders_per_slot``."""
        pool = await HttpPool.open(cmd["host"], cmd["port"], 1)
        token, truck = cmd["token"], int(cmd["truck_id"])
        try:
            status, raw = await pool.request("GET", f"/api/shifts/active?truck_id={truck}", token=token)
            if status == 200:
                old = orjson.loads(raw)["id"]
                status, raw = await pool.request("POST", f"/api/shifts/{old}/checkout", token=token)
                _expect(status, raw, 200, "checkout")
            body = orjson.dumps({"truck_id": truck, "location_id": int(cmd["location_id"])})
            status, raw = await pool.request("POST", "/api/shifts", body, token=token)
            _expect(status, raw, 201, "check-in")
            shift_id = int(orjson.loads(raw)["id"])
            config = orjson.dumps(cmd["config"])
            status, raw = await pool.request("PATCH", f"/api/shifts/{shift_id}/config", config, token=token)
            _expect(status, raw, 200, "config")
            return {"shift_id": shift_id, "config": orjson.loads(raw)}
        finally:
            pool.close()

    async def open_tablets(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Closes the previous tablets; ``n`` new ones, each subscribed to ``topic`` before this returns."""
        await self.close_all()
        loop = asyncio.get_running_loop()
        nodes = _nodes(cmd)
        for j in range(int(cmd["n"])):
            host, port = nodes[j % len(nodes)]  # with several nodes, tablet j is on node j mod nodes
            _, tablet = await asyncio.wait_for(
                loop.create_connection(
                    functools.partial(
                        Tablet, self.shared, [], host=host, port=port, path="/ws", mode="ws", token=cmd["token"],
                        topic=cmd["topic"],
                    ),
                    host, port,
                ),
                _OPEN_TIMEOUT_S,
            )  # fmt: skip
            await asyncio.wait_for(tablet.ready, _OPEN_TIMEOUT_S)
            self.tablets.append(tablet)
        self.shared.reset(every=1)  # decode every frame: a tablet sees a few thousand per second at most
        self.shared.closed = {}
        return {"tablets": len(self.tablets)}

    async def step(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Orders at ``rate``/s for ``duration`` s on ``shift_id``; answers and tablet receipts, summarised."""
        rate, duration, tag, grace = float(cmd["rate"]), float(cmd["duration"]), str(cmd["tag"]), float(cmd["grace_s"])
        n = max(1, round(rate * duration))
        nodes = _nodes(cmd)
        pools = [await HttpPool.open(h, p, int(cmd["connections"])) for h, p in nodes]
        for tablet in self.tablets:
            tablet.receipts.clear()
        path, token = f"/api/shifts/{int(cmd['shift_id'])}/orders", str(cmd["token"])
        try:  # with several nodes, order i goes to node i mod nodes
            answers, t0 = await place_orders(
                lambda i: (pools[i % len(pools)], path), ITEMS, token, tag, n, rate, duration + grace
            )
        finally:
            for pool in pools:
                pool.close()
        expected = len(self.tablets) * sum(1 for a in answers if a is not None and a[0] == 201)
        deadline = time.time() + grace
        while time.time() < deadline and sum(len(t.receipts) for t in self.tablets) < expected:
            await asyncio.sleep(0.01)
        return _summary(answers, [t.receipts for t in self.tablets], t0, rate, duration, tag) | {
            "tablets_alive": sum(1 for t in self.tablets if t.alive),
            "tablet_closes": {str(k): v for k, v in self.shared.closed.items()},
            "undecodable_frames": self.shared.sample_errors,
        }

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for tablet in self.tablets:
            tablet.close()
        self.tablets = []
        return {}


Answer = tuple[int, float, float, bytes]  # status, sent at, answered at, body


def _nodes(cmd: dict[str, Any]) -> list[tuple[str, int]]:
    """``nodes`` (``[[host, port], …]``) when the command names several hub nodes, else its ``host``/``port``."""
    return [(str(h), int(p)) for h, p in cmd.get("nodes") or [(cmd["host"], cmd["port"])]]


async def place_orders(
    route: Callable[[int], tuple[HttpPool, str]],
    items: list[dict[str, int]],
    token: str,
    tag: str,
    n: int,
    rate: float,
    within_s: float,
) -> tuple[list[Answer | None], float]:
    """POST ``n`` orders open-loop at ``rate`` (order ``i`` to ``route(i)``); returns the answers and ``t0``.

    Requests still unanswered ``within_s`` after ``t0`` are cancelled: their answer stays ``None`` (an error).
    """
    answers: list[Answer | None] = [None] * n

    async def order(i: int) -> None:
        pool, path = route(i)
        body = orjson.dumps({"items": items, "customer_name": f"{tag}-{i}"})
        started = time.time()
        try:
            status, raw = await pool.request("POST", path, body, token)
        except HttpError as exc:
            status, raw = -1, str(exc).encode()
        answers[i] = (status, started, time.time(), raw)

    t0 = time.time() + 0.01
    tasks = await open_loop(order, n, t0, rate)
    _, late = await asyncio.wait(tasks, timeout=max(0.0, t0 + within_s - time.time()))
    for task in late:  # no answer within the step and its grace: counted as errors
        task.cancel()
    return answers, t0


async def open_loop(
    order: Callable[[int], Coroutine[Any, Any, None]], n: int, t0: float, rate: float
) -> list[asyncio.Task[None]]:
    """Start request ``i`` at ``t0 + i / rate`` (a late tick starts every request already due at once)."""
    tasks: list[asyncio.Task[None]] = []
    i = 0
    while i < n:
        now = time.time()
        while i < n and t0 + i / rate <= now:
            tasks.append(asyncio.create_task(order(i)))
            i += 1
        if i < n:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
    return tasks


def _summary(
    answers: list[tuple[int, float, float, bytes] | None],
    receipts: list[list[tuple[str, float]]],
    t0: float,
    rate: float,
    duration: float,
    tag: str,
) -> dict[str, Any]:
    """Latencies from each order's scheduled start ``t0 + i / rate``: REST answer, and ticket on every tablet."""
    errors: dict[str, int] = {}
    rest, late, ok = [], [], set()
    last = t0
    for i, answer in enumerate(answers):
        if answer is None:
            errors["no answer in time"] = errors.get("no answer in time", 0) + 1
            continue
        status, started, done, raw = answer
        scheduled = t0 + i / rate
        rest.append(done - scheduled)
        late.append(started - scheduled)
        last = max(last, done)
        if status == 201 and _tagged(raw, f"{tag}-{i}"):
            ok.add(i)
        else:
            key = f"{status} {_error_code(raw)}" if status > 0 else raw.decode(errors="replace")[:60]
            errors[key] = errors.get(key, 0) + 1
    arrivals, seen, dupes, strays = [], 0, 0, 0
    for mine in receipts:
        got: set[int] = set()
        for name, now in mine:
            prefix, _, num = name.rpartition("-")
            i = int(num) if prefix == tag and num.isdigit() else -1
            if i not in ok:
                strays += 1  # another step's ticket, or an order whose answer was not a 201
            elif i in got:
                dupes += 1
            else:
                got.add(i)
                arrivals.append(now - (t0 + i / rate))
        seen += len(got)
    span = max(duration, last - t0)
    return {
        "offered_per_s": rate,
        "orders": len(answers),
        "created": len(ok),
        "achieved_per_s": round(len(ok) / span, 1),
        "errors": errors,
        "n_errors": sum(errors.values()),
        "receipts": seen,
        "expected_receipts": len(ok) * len(receipts),
        "lost": len(ok) * len(receipts) - seen,
        "duplicates": dupes,
        "strays": strays,
        "tablet_ms": percentiles(arrivals),
        "rest_ms": percentiles(rest),
        "client_late_ms": percentiles(late),  # how late the client itself started requests (its own queue)
        "span_s": round(span, 3),
    }


def _tagged(raw: bytes, tag: str) -> bool:
    """The 201 body is a ticket (protocol.md §4.1) of this order."""
    try:
        ticket = orjson.loads(raw)
        return bool(ticket["customer_name"] == tag and ticket["id"] and ticket["number"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


def _error_code(raw: bytes) -> str:
    try:
        return str(orjson.loads(raw)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:60].decode(errors="replace")


def _expect(status: int, raw: bytes, want: int, what: str) -> None:
    if status != want:
        raise RuntimeError(f"{what}: HTTP {status} {raw[:200]!r}")


def main() -> None:
    raise_nofile()
    load = OrderLoad()
    handlers = {"shift": load.shift, "tablets": load.open_tablets, "step": load.step, "close_all": load.close_all}
    uvloop.run(serve_lines(handlers, load.close_all))


if __name__ == "__main__":
    main()
