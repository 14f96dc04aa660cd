"""The soak's POS and KDS tablets: ``python -m bench.soakload`` (JSON-line commands, :mod:`bench.lines`).

The city's process (:class:`bench.cityload.CityLoad`: shifts, tablets on every node) with an order load that
runs for the whole soak instead of one step: ``start`` places orders open-loop in the background (order ``i``
to shift ``i mod S``, through a node that changes from one round of the shifts to the next, as the city does),
``snapshot`` answers while it runs (totals so far, this window's latencies, the tablets' error frames and
closes), and ``finish`` waits for the last answers and receipts and settles the account
(:class:`bench.soak_ledger.Ledger`: lost = acknowledged but never received by some tablet of its shift).
A request is never cancelled (the keep-alive pool would hand the late answer to the next request): one still
unanswered at ``finish`` after the grace counts as an error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import uvloop

from bench.cityload import ITEMS, CityLoad
from bench.httpclient import HttpError, HttpPool
from bench.lines import serve_lines
from bench.orderload import Tablet
from bench.soak_ledger import TAG, Ledger
from bench.worker import raise_nofile

__all__ = ["SoakTablet", "main"]

_DRAIN_S = 0.5  # how often the tablets' receipts are moved to the ledger
_KEEP = 5
_UNANSWERED = "no answer in time after the last order"


class SoakTablet(Tablet):
    """A tablet that also counts the error frames it gets (the city's ignores every frame but tickets)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.error_frames = 0
        self.error_samples: list[str] = []

    def _sample(self, data: bytes, start: int, end: int, now: float) -> None:
        try:
            frame = orjson.loads(data[start:end])
            if frame.get("event") == "ticket.created":
                self.receipts.append((str(frame["data"]["customer_name"]), now))
            elif frame.get("type") == "error":
                self.error_frames += 1
                if len(self.error_samples) < _KEEP:
                    self.error_samples.append(data[start:end][:200].decode(errors="replace"))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.shared.sample_errors += 1


class SoakLoad(CityLoad):
    TABLET = SoakTablet

    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger | None = None
        self.pools: list[HttpPool] = []
        self.placer: asyncio.Task[None] | None = None
        self.drainer: asyncio.Task[None] | None = None
        self.inflight: set[asyncio.Task[None]] = set()
        self.closing = False

    async def start(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Orders at ``rate``/s for ``duration`` s, in the background; returns at once."""
        rate, duration, token = float(cmd["rate"]), float(cmd["duration"]), str(cmd["token"])
        self.pools = [await HttpPool.open(h, p, int(cmd["connections"])) for h, p in self.nodes]
        for tablet in self.tablets:
            tablet.receipts.clear()  # nothing before the soak counts
        n, t0 = max(1, round(rate * duration)), time.time() + 0.05
        self.ledger = Ledger([s for s, _ in self.placement], len(self.shift_ids), t0, rate)
        self.placer = asyncio.create_task(self._place(self.ledger, token, n))
        self.drainer = asyncio.create_task(self._drain_loop())
        return {"orders": n, "t0": t0}

    async def _place(self, ledger: Ledger, token: str, n: int) -> None:
        """Order ``i`` at ``t0 + i / rate`` whether or not earlier ones were answered (no coordinated omission)."""
        shifts, nodes, i = len(self.shift_ids), len(self.pools), 0
        while i < n:
            now = time.time()
            while i < n and ledger.t0 + i / ledger.rate <= now:
                pool = self.pools[(i + i // shifts) % nodes]
                path = f"/api/shifts/{self.shift_ids[i % shifts]}/orders"
                task = asyncio.create_task(self._order(ledger, pool, path, token, i))
                self.inflight.add(task)  # a strong reference until it is done (asyncio keeps only weak ones)
                task.add_done_callback(self.inflight.discard)
                ledger.on_sent()
                i += 1
            if i < n:
                await asyncio.sleep(max(0.0, ledger.t0 + i / ledger.rate - time.time()))

    async def _order(self, ledger: Ledger, pool: HttpPool, path: str, token: str, i: int) -> None:
        body = orjson.dumps({"items": ITEMS, "customer_name": f"{TAG}-{i}"})
        try:
            status, raw = await pool.request("POST", path, body, token)
        except HttpError as exc:
            status, raw = -1, (_UNANSWERED if self.closing else str(exc)).encode()
        except asyncio.CancelledError:  # still waiting for a connection when the soak ended
            ledger.on_error(_UNANSWERED, f"order {i}: {_UNANSWERED}")
            raise
        ledger.on_answer(i, status, raw, time.time())

    def _drain(self) -> None:
        ledger = self.ledger
        if ledger is None:
            return
        for k, tablet in enumerate(self.tablets):
            if tablet.receipts:
                receipts, tablet.receipts = tablet.receipts, []
                for name, now in receipts:
                    ledger.on_receipt(k, name, now)

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(_DRAIN_S)
            self._drain()

    def _tablets(self) -> dict[str, Any]:
        soak = [t for t in self.tablets if isinstance(t, SoakTablet)]
        return {
            "tablets": len(self.tablets),
            "tablets_alive": sum(1 for t in self.tablets if t.alive),
            "tablet_closes": {str(k): v for k, v in self.shared.closed.items()},
            "tablet_error_frames": sum(t.error_frames for t in soak),
            "tablet_error_samples": [s for t in soak for s in t.error_samples][:_KEEP],
            "undecodable_frames": self.shared.sample_errors,
        }

    async def snapshot(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Totals so far; ``overdue`` counts receipts still missing ``overdue_s`` after their order's 201."""
        if self.ledger is None:
            raise RuntimeError("snapshot before start")
        self._drain()
        return self.ledger.window(time.time(), float(cmd["overdue_s"])) | self._tablets()

    async def finish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """After the last scheduled order: the answers still due, as long as one comes every ``stall_s`` s and for
        ``answer_s`` s at most (a busy machine may have queued many), the receipts for ``grace_s`` s more, then the
        account."""
        ledger, grace = self.ledger, float(cmd["grace_s"])
        if ledger is None or self.placer is None:
            raise RuntimeError("finish before start")
        await self.placer
        stall, cap = max(grace, float(cmd["stall_s"])), time.time() + float(cmd["answer_s"])
        while self.inflight and time.time() < cap:  # as long as answers keep coming (the backlog drains)
            before = ledger.answered
            await asyncio.wait(set(self.inflight), timeout=stall)
            if ledger.answered == before:
                break
        deadline = time.time() + grace
        self._drain()
        while ledger.pending and time.time() < deadline:
            await asyncio.sleep(0.05)
            self._drain()
        unanswered, self.closing = len(self.inflight), True
        if self.drainer is not None:
            self.drainer.cancel()
        for pool in self.pools:  # fails the requests still waiting for their answer (counted as errors)
            pool.close()
        self.pools = []
        if self.inflight:
            await asyncio.wait(set(self.inflight), timeout=1.0)
        for task in set(self.inflight):  # those still waiting for a connection
            task.cancel()
        await asyncio.sleep(0)
        return ledger.final(time.time()) | self._tablets() | {"unanswered": unanswered}


def main() -> None:
    raise_nofile()
    load = SoakLoad()
    handlers = {"shifts": load.open_shifts, "tablets": load.open_tablets, "start": load.start}
    handlers |= {"snapshot": load.snapshot, "finish": load.finish, "close_all": load.close_all}
    uvloop.run(serve_lines(handlers, load.close_all))


if __name__ == "__main__":
    main()
