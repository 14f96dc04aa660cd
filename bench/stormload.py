"""The storm scenario's tablets: ``python -m bench.stormload`` (JSON-line commands, :mod:`bench.lines`).

- ``open``: KDS tablets (one per token), ``concurrency`` at a time, each with its own session's token and device,
  through hello and its subscription to its shift's ``kds:`` topic; each keeps its stream position (``seq``,
  ``epoch`` of ``subscribed``).
- ``wait_closed``: until every tablet's socket is closed (the scenario stopped the node).
- ``storm``: every tablet comes back at the same instant, as tablets do when their node returns: connect, hello,
  subscribe with ``since`` its position and, when the hub answers ``recovered: false``, refetch the KDS snapshot
  over REST (unless ``refetch`` is false: the hub's own part alone). A tablet that is refused (connection
  refused, closed 1013 by admission control, any reconnect code) retries after the full-jitter delay of the
  Python client (:class:`hub_client.reconnect.Backoff`), as a real tablet does. Returns per-tablet timings,
  summarised.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvloop

from bench.httpclient import HttpError, HttpPool
from bench.lines import serve_lines
from bench.measure import percentiles
from bench.worker import raise_nofile
from bench.wsclient import WsClient
from bench.wscounters import Shared
from hub_client.reconnect import Action, Backoff, after_close

__all__ = ["StormTablet", "main"]

_SNAPSHOT_CONNECTIONS = 32  # the REST refetches share this many keep-alive connections


class StormTablet(WsClient):
    """A tablet that says who it is (device), subscribes with ``since`` and times each step of its setup."""

    def __init__(self, shared: Shared, *, device: str, since: dict[str, Any] | None, **kw: Any) -> None:
        super().__init__(shared, **kw)
        self.device, self.since = device, since
        self.t_hello = self.t_welcome = self.t_subscribed = 0.0
        self.subscribed: dict[str, Any] = {}
        self.close_code: int | None = None

    def _upgrade(self, data: bytes) -> bytes:
        if (self._buf + data).startswith(b"HTTP/1.1 503"):  # the node refused the upgrade: all its hellos are taken
            self.close_code = 503
        return super()._upgrade(data)

    def _hello(self) -> bytes:
        self.t_hello = time.monotonic()
        return orjson.dumps({"type": "hello", "token": self.token, "device": {"id": self.device, "kind": "kds"}})

    def _subscribe(self) -> bytes:
        self.t_welcome = time.monotonic()
        sub: dict[str, Any] = {"type": "subscribe", "id": 1, "topic": self.topic}
        if self.since is not None:
            sub["since"] = self.since
        return orjson.dumps(sub)

    def _subscribed(self, frame: dict[str, Any]) -> None:
        self.t_subscribed = time.monotonic()
        self.subscribed = frame

    def _on_close(self, payload: bytes) -> None:
        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        super()._on_close(payload)


@dataclass
class _Back:
    """One tablet's way back in a storm, times relative to the storm's start."""

    attempts: int = 0
    refusals: dict[str, int] = field(default_factory=dict)  # why an attempt failed: "refused", "1013", …
    hello_to_welcome: float | None = None  # of the attempt that got in
    connect_to_subscribed: float | None = None
    hello_at: float | None = None
    welcome_at: float | None = None
    recovered: bool | None = None
    snapshot_s: float | None = None
    snapshot_status: int | None = None
    back_at: float | None = None  # subscribed, and the snapshot refetched when it had to be
    failed: str | None = None


class Storm:
    def __init__(self) -> None:
        self.shared = Shared()
        self.tablets: list[StormTablet] = []
        self.tokens: list[str] = []
        self.shifts: list[int] = []  # per tablet: the shift whose kds: topic it shows
        self.positions: list[dict[str, Any] | None] = []

    async def _connect(self, cmd: dict[str, Any], i: int, timeout: float) -> StormTablet:
        loop = asyncio.get_running_loop()

        def make() -> StormTablet:
            return StormTablet(
                self.shared, device=f"storm-{i}", since=self.positions[i], host=cmd["host"], port=cmd["port"],
                path="/ws", mode="ws", token=self.tokens[i], topic=f"kds:{self.shifts[i]}",
            )  # fmt: skip

        _, tablet = await asyncio.wait_for(loop.create_connection(make, cmd["host"], cmd["port"]), timeout)
        return tablet

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """The tablets of a running node, ``concurrency`` at a time; each one's position kept for the storm."""
        await self.close_all()
        self.tokens, self.shifts = list(cmd["tokens"]), [int(s) for s in cmd["shifts"]]
        self.positions = [None] * len(self.tokens)
        self.tablets = []
        gate, timeout = asyncio.Semaphore(int(cmd["concurrency"])), float(cmd["timeout"])
        started, failures = time.monotonic(), []

        async def one(i: int) -> None:
            async with gate:
                try:
                    tablet = await self._connect(cmd, i, timeout)
                    await asyncio.wait_for(tablet.ready, timeout)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
            self.tablets.append(tablet)
            self.positions[i] = {"seq": tablet.subscribed["seq"], "epoch": tablet.subscribed["epoch"]}

        await asyncio.gather(*(one(i) for i in range(len(self.tokens))))
        return {"opened": len(self.tablets), "failed": len(failures), "errors": failures[:5],
                "seconds": round(time.monotonic() - started, 2)}  # fmt: skip

    async def wait_closed(self, cmd: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + float(cmd["timeout"])
        while any(t.alive for t in self.tablets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        codes: dict[str, int] = {}
        for t in self.tablets:
            key = str(t.close_code or "dropped")
            codes[key] = codes.get(key, 0) + 1
        return {"still_open": sum(1 for t in self.tablets if t.alive), "closes": codes}

    async def storm(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Every tablet back at once; returns when all are back or ``budget_s`` ran out."""
        budget, timeout, refetch = float(cmd["budget_s"]), float(cmd["timeout"]), bool(cmd.get("refetch", True))
        pool = await HttpPool.open(cmd["host"], cmd["port"], _SNAPSHOT_CONNECTIONS)
        backoff, rng = Backoff(), random.Random(int(cmd.get("seed", 1)))
        self.tablets = []
        t0 = time.monotonic()
        deadline = t0 + budget

        async def back(i: int) -> _Back:
            rec = _Back()
            while True:
                rec.attempts += 1
                started = time.monotonic()
                tablet: StormTablet | None = None
                why = ""
                try:
                    tablet = await self._connect(cmd, i, timeout)
                    await asyncio.wait_for(tablet.ready, timeout)
                except TimeoutError:
                    why = "timeout"
                except ConnectionRefusedError:
                    why = "refused"
                except (OSError, ConnectionError) as exc:
                    code = tablet.close_code if tablet is not None else None
                    why = str(code) if code is not None else type(exc).__name__
                if not why and tablet is not None:
                    break
                if tablet is not None:
                    tablet.close()
                rec.refusals[why] = rec.refusals.get(why, 0) + 1
                if why.isdigit() and after_close(int(why)) is Action.STOP:
                    rec.failed = f"closed {why}"
                    return rec
                delay = backoff.delay(rec.attempts - 1, rng, rate_limited=why == "4429")
                if time.monotonic() + delay >= deadline:
                    rec.failed = f"not back within {budget:g} s (last: {why})"
                    return rec
                await asyncio.sleep(delay)  # the client's reconnect delay: what a real tablet waits
            self.tablets.append(tablet)
            rec.hello_to_welcome = tablet.t_welcome - tablet.t_hello
            rec.connect_to_subscribed = tablet.t_subscribed - started
            rec.hello_at, rec.welcome_at = tablet.t_hello - t0, tablet.t_welcome - t0
            rec.recovered = bool(tablet.subscribed.get("recovered"))
            self.positions[i] = {"seq": tablet.subscribed["seq"], "epoch": tablet.subscribed["epoch"]}
            if not rec.recovered and refetch:  # the hub lost this topic's history (a new epoch): the snapshot
                asked = time.monotonic()
                try:
                    status, _ = await pool.request("GET", f"/api/shifts/{self.shifts[i]}/kds", token=self.tokens[i])
                except HttpError as exc:
                    rec.failed = f"snapshot: {exc}"
                    return rec
                rec.snapshot_s, rec.snapshot_status = time.monotonic() - asked, status
                if status != 200:
                    rec.failed = f"snapshot: HTTP {status}"
                    return rec
            rec.back_at = time.monotonic() - t0
            return rec

        try:
            backs = await asyncio.gather(*(back(i) for i in range(len(self.tokens))))
        finally:
            pool.close()
        return _summary(backs)

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for tablet in self.tablets:
            tablet.close()
        self.tablets = []
        return {}


def _summary(backs: list[_Back]) -> dict[str, Any]:
    def ms(values: list[float]) -> dict[str, Any]:
        return percentiles(values) | {"max": round(max(values) * 1000, 2) if values else None}

    ok = [b for b in backs if b.failed is None]
    welcomed = [b for b in backs if b.hello_to_welcome is not None]
    refusals: dict[str, int] = {}
    for b in backs:
        for k, v in b.refusals.items():
            refusals[k] = refusals.get(k, 0) + v
    failures: dict[str, int] = {}
    for b in backs:
        if b.failed is not None:
            failures[b.failed] = failures.get(b.failed, 0) + 1
    hellos = [b.hello_at for b in welcomed if b.hello_at is not None]
    welcomes = [b.welcome_at for b in welcomed if b.welcome_at is not None]
    span = max(welcomes) - min(hellos) if welcomes and hellos else 0.0
    back_at = sorted(b.back_at for b in ok if b.back_at is not None)
    return {
        "tablets": len(backs),
        "back": len(ok),
        "failed": len(backs) - len(ok),
        "failures": failures,
        "all_back_s": round(back_at[-1], 3) if back_at and len(back_at) == len(backs) else None,
        "last_back_s": round(back_at[-1], 3) if back_at else None,
        "half_back_s": round(back_at[len(back_at) // 2], 3) if back_at else None,
        "hello_to_welcome_ms": ms([b.hello_to_welcome for b in welcomed if b.hello_to_welcome is not None]),
        "connect_to_subscribed_ms": ms([b.connect_to_subscribed for b in backs if b.connect_to_subscribed is not None]),
        "snapshot_ms": ms([b.snapshot_s for b in backs if b.snapshot_s is not None]),
        "snapshots": sum(1 for b in backs if b.snapshot_s is not None),
        "recovered": sum(1 for b in backs if b.recovered),
        "attempts": sum(b.attempts for b in backs),
        "refusals": refusals,
        "welcomed_per_s": round(len(welcomed) / span, 1) if span > 0 else None,
        "hello_span_s": round(span, 3),  # first hello sent → last welcome received
    }


def main() -> None:
    raise_nofile()
    storm = Storm()
    handlers = {
        "open": storm.open,
        "wait_closed": storm.wait_closed,
        "storm": storm.storm,
        "close_all": storm.close_all,
    }
    uvloop.run(serve_lines(handlers, storm.close_all))


if __name__ == "__main__":
    main()
