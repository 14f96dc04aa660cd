"""The city scenario's POS and KDS tablets: ``python -m bench.cityload`` (JSON-line commands, :mod:`bench.lines`).

One process holds both ends of every order, so one clock times it (as :mod:`bench.orderload`
does for one shift): a POS that places orders open-loop over REST, spread round-robin over many
shifts and over every hub node, and ``per_shift`` tablets per shift (lean sockets subscribed to
``kds:{shift}``). Tablet ``j`` of a shift is on node ``j mod nodes``, so with two nodes every
shift has tablets on both and half of each ticket's receipts cross from the node that took the
order to the other one. Each tablet records every ``ticket.created`` by its tag; the summary
counts, per tablet, the tickets of its shift it missed or got twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import uvloop

from bench.httpclient import HttpPool
from bench.lines import serve_lines
from bench.measure import percentiles
from bench.orderload import Tablet, place_orders
from bench.worker import raise_nofile
from bench.wscounters import Shared

__all__ = ["ITEMS", "main"]

ITEMS = [{"item_id": 6, "qty": 2}, {"item_id": 8, "qty": 1}]  # seeded fries and lemonade: sold by every truck
_OPEN_CONCURRENCY = 64
_SETUP_CONNECTIONS = 8  # per node, for opening shifts


class CityLoad:
    TABLET: type[Tablet] = Tablet  # what a tablet socket is (the soak's also counts error frames)

    def __init__(self) -> None:
        self.shared = Shared()
        self.nodes: list[tuple[str, int]] = []
        self.shift_ids: list[int] = []
        self.tablets: list[Tablet] = []
        self.placement: list[tuple[int, int]] = []  # per tablet: (shift index, node index)

    async def open_shifts(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """One open shift per truck (check-in, then the throttle raised), the requests spread over the nodes."""
        self.nodes = [(str(h), int(p)) for h, p in cmd["nodes"]]
        token, locations, config = str(cmd["token"]), list(cmd["locations"]), orjson.dumps(cmd["config"])
        pools = [await HttpPool.open(h, p, _SETUP_CONNECTIONS) for h, p in self.nodes]
        started = time.monotonic()

        async def one(k: int, truck: int) -> int:
            pool = pools[k % len(pools)]
            body = orjson.dumps({"truck_id": truck, "location_id": locations[k % len(locations)]})
            status, raw = await pool.request("POST", "/api/shifts", body, token=token)
            _expect(status, raw, 201, f"check-in of truck {truck}")
            shift_id = int(orjson.loads(raw)["id"])
            status, raw = await pool.request("PATCH", f"/api/shifts/{shift_id}/config", config, token=token)
            _expect(status, raw, 200, f"config of shift {shift_id}")
            return shift_id

        try:
            self.shift_ids = list(await asyncio.gather(*(one(k, int(t)) for k, t in enumerate(cmd["trucks"]))))
        finally:
            for pool in pools:
                pool.close()
        return {"shifts": len(self.shift_ids), "seconds": round(time.monotonic() - started, 2)}

    async def open_tablets(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """``per_shift`` tablets on every shift, each through hello and its ``kds:{shift}`` subscription."""
        await self.close_all()
        loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(_OPEN_CONCURRENCY)
        token, timeout, failures = str(cmd["token"]), float(cmd["timeout"]), []
        started = time.monotonic()

        async def one(s: int, j: int) -> None:
            host, port = self.nodes[j % len(self.nodes)]
            topic = f"kds:{self.shift_ids[s]}"
            async with gate:
                try:
                    _, tablet = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: self.TABLET(self.shared, [], host=host, port=port, path="/ws", mode="ws",
                                           token=token, topic=topic),
                            host, port,
                        ),
                        timeout,
                    )  # fmt: skip
                    await asyncio.wait_for(tablet.ready, timeout)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
            self.tablets.append(tablet)
            self.placement.append((s, j % len(self.nodes)))

        per_shift = int(cmd["per_shift"])
        await asyncio.gather(*(one(s, j) for s in range(len(self.shift_ids)) for j in range(per_shift)))
        self.shared.reset(every=1)  # decode every frame: a tablet gets a ticket every few seconds
        self.shared.closed = {}
        return {"opened": len(self.tablets), "failed": len(failures), "errors": failures[:5],
                "seconds": round(time.monotonic() - started, 2)}  # fmt: skip

    async def step(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Orders at ``rate``/s for ``duration`` s: order ``i`` goes to shift ``i mod S`` through a node that
        changes from one round of the shifts to the next; answers and tablet receipts, summarised."""
        rate, duration, tag, grace = float(cmd["rate"]), float(cmd["duration"]), str(cmd["tag"]), float(cmd["grace_s"])
        token, shifts, nodes = str(cmd["token"]), len(self.shift_ids), len(self.nodes)
        n = max(1, round(rate * duration))
        pools = [await HttpPool.open(h, p, int(cmd["connections"])) for h, p in self.nodes]
        for tablet in self.tablets:
            tablet.receipts.clear()

        def route(i: int) -> tuple[HttpPool, str]:  # shift i mod S, through a node that changes each round
            return pools[(i + i // shifts) % nodes], f"/api/shifts/{self.shift_ids[i % shifts]}/orders"

        try:
            answers, t0 = await place_orders(route, ITEMS, token, tag, n, rate, duration + grace)
        finally:
            for pool in pools:
                pool.close()
        per_shift = [0] * shifts
        for s, _ in self.placement:
            per_shift[s] += 1
        expected = sum(per_shift[i % shifts] for i, a in enumerate(answers) if a is not None and a[0] == 201)
        deadline = time.time() + grace
        while time.time() < deadline and sum(len(t.receipts) for t in self.tablets) < expected:
            await asyncio.sleep(0.01)
        ok = _created(answers, tag)
        out = _summary(answers, ok, t0, rate, duration) | _receipts(self, ok, t0, rate, per_shift)
        return out | {
            "tablets_alive": sum(1 for t in self.tablets if t.alive),
            "tablet_closes": {str(k): v for k, v in self.shared.closed.items()},
            "undecodable_frames": self.shared.sample_errors,
        }

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for tablet in self.tablets:
            tablet.close()
        self.tablets, self.placement = [], []
        return {}


def _created(answers: list[tuple[int, float, float, bytes] | None], tag: str) -> dict[int, None]:
    """Orders answered 201 with their own ticket (protocol.md §4.1), in order."""
    ok: dict[int, None] = {}
    for i, answer in enumerate(answers):
        if answer is not None and answer[0] == 201:
            try:
                if orjson.loads(answer[3])["customer_name"] == f"{tag}-{i}":
                    ok[i] = None
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
    return ok


def _summary(
    answers: list[tuple[int, float, float, bytes] | None], ok: dict[int, None], t0: float, rate: float, duration: float
) -> dict[str, Any]:
    """The POS side: how many were created, how fast, how long the REST answers took from the schedule."""
    errors: dict[str, int] = {}
    rest, late, last = [], [], t0
    for i, answer in enumerate(answers):
        if answer is None:
            errors["no answer in time"] = errors.get("no answer in time", 0) + 1
            continue
        status, started, done, raw = answer
        rest.append(done - (t0 + i / rate))
        late.append(started - (t0 + i / rate))
        last = max(last, done)
        if i not in ok:
            key = f"{status} {_error_code(raw)}" if status > 0 else raw.decode(errors="replace")[:60]
            errors[key] = errors.get(key, 0) + 1
    span = max(duration, last - t0)
    return {
        "offered_per_s": rate,
        "orders": len(answers),
        "created": len(ok),
        "achieved_per_s": round(len(ok) / span, 1),
        "errors": errors,
        "n_errors": sum(errors.values()),
        "rest_ms": percentiles(rest),
        "client_late_ms": percentiles(late),  # how late the client itself started requests (its own queue)
        "span_s": round(span, 3),
    }


def _receipts(load: CityLoad, ok: dict[int, None], t0: float, rate: float, per_shift: list[int]) -> dict[str, Any]:
    """Per tablet: each created ticket of its shift once. Latency from the order's scheduled send time."""
    shifts, nodes = len(load.shift_ids), len(load.nodes)
    arrivals: list[float] = []
    seen = dupes = strays = cross = 0
    for tablet, (shift, node) in zip(load.tablets, load.placement, strict=True):
        got: set[int] = set()
        for name, now in tablet.receipts:
            num = name.rpartition("-")[2]
            i = int(num) if num.isdigit() else -1
            if i not in ok or i % shifts != shift:
                strays += 1  # another step's or another shift's ticket, or an order not answered 201
            elif i in got:
                dupes += 1
            else:
                got.add(i)
                arrivals.append(now - (t0 + i / rate))
                cross += (i + i // shifts) % nodes != node
        seen += len(got)
    expected = sum(per_shift[i % shifts] for i in ok)
    return {
        "expected_receipts": expected,
        "receipts": seen,
        "missing": expected - seen,
        "duplicates": dupes,
        "strays": strays,
        "cross_node_receipts": cross,  # taken by one node, delivered by the other (through the broker)
        "tablet_ms": percentiles(arrivals),
    }


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
    load = CityLoad()
    handlers = {"shifts": load.open_shifts, "tablets": load.open_tablets, "step": load.step}
    handlers["close_all"] = load.close_all
    uvloop.run(serve_lines(handlers, load.close_all))


if __name__ == "__main__":
    main()
