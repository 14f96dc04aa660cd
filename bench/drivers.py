"""The ingest scenario's driver process: ``python -m bench.drivers`` (JSON-line commands, :mod:`bench.lines`).

Each socket is one driver phone: a lean :class:`bench.wsclient.WsClient` (on the hub, logged in
as its own driver account), ``hello``, then ``gps`` frames. ``send`` spreads an aggregate rate
round-robin over the drivers on a 1 ms tick, one frame per write as a phone would send it, each
stamped with ``ts`` = this process's ``time.time()`` when it is written: the dashboards' receivers
compute ping → ``gps:fleet`` latency from it. A ``gps`` without ``id`` gets no answer
(protocol.md §2.2), so every text frame a driver receives is an error frame: counted, the first
few kept for the report.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import uvloop

from bench.httpclient import HttpPool
from bench.lines import serve_lines
from bench.worker import raise_nofile
from bench.wsclient import WsClient
from bench.wscounters import Shared
from bench.wsframe import masked_frame

__all__ = ["Driver", "main"]

_TICK_S = 0.001
_MAX_BATCH = 2000  # pings per tick at most, so a late tick does not hold the loop for long
_OPEN_CONCURRENCY = 64
_LOGIN_CONNECTIONS = 16
_KEEP_ERRORS = 5


class Driver(WsClient):
    """A driver socket; what the server says to it after ``welcome`` lands in :meth:`_sample` (every frame)."""

    def __init__(self, shared: Shared, errors: list[str], **kw: Any) -> None:
        super().__init__(shared, **kw)
        self.errors = errors

    def _sample(self, data: bytes, start: int, end: int, now: float) -> None:
        self.shared.sample_errors += 1  # counted as an error frame, whatever it is
        if len(self.errors) < _KEEP_ERRORS:
            self.errors.append(data[start:end][:200].decode(errors="replace"))


class Drivers:
    def __init__(self) -> None:
        self.shared = Shared()
        self.errors: list[str] = []
        self.conns: list[Driver] = []
        self.tokens: list[str] = []
        self.cursor = 0  # the round-robin goes on where the previous step stopped

    async def login(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Log in ``prefix1`` … ``prefix{n}`` over a few keep-alive connections; keeps their access tokens."""
        started = time.monotonic()
        pool = await HttpPool.open(cmd["host"], cmd["port"], _LOGIN_CONNECTIONS)

        async def one(i: int) -> str:
            body = orjson.dumps({"username": f"{cmd['prefix']}{i}", "password": cmd["password"]})
            status, raw = await pool.request("POST", "/api/auth/login", body)
            if status != 200:
                raise RuntimeError(f"login {cmd['prefix']}{i}: HTTP {status} {raw[:200]!r}")
            return str(orjson.loads(raw)["access_token"])

        try:
            self.tokens = list(await asyncio.gather(*(one(i) for i in range(1, int(cmd["n"]) + 1))))
        finally:
            pool.close()
        return {"logged_in": len(self.tokens), "seconds": round(time.monotonic() - started, 2)}

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """``n`` driver sockets through their hello (the i-th with the i-th login's token, if any); with ``ports``
        (several hub nodes) the i-th driver connects to ``ports[i % len(ports)]``."""
        await self.close_all()
        loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(_OPEN_CONCURRENCY)
        failures: list[str] = []
        started = time.monotonic()
        ports = [int(p) for p in cmd.get("ports") or [cmd["port"]]]

        async def one(i: int) -> None:
            token = self.tokens[i] if self.tokens else cmd.get("token", "")
            port = ports[i % len(ports)]
            async with gate:
                try:
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: Driver(
                                self.shared, self.errors, host=cmd["host"], port=port, path=cmd["path"],
                                mode=cmd["mode"], token=token, topic=None,
                            ),
                            cmd["host"], port,
                        ),
                        float(cmd["timeout"]),
                    )  # fmt: skip
                    await asyncio.wait_for(conn.ready, float(cmd["timeout"]))
                    self.conns.append(conn)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i) for i in range(int(cmd["n"]))))
        self.shared.reset(every=1)  # from now on every frame a driver receives goes through Driver._sample
        return {"opened": len(self.conns), "failed": len(failures), "errors": failures[:5],
                "seconds": round(time.monotonic() - started, 2)}  # fmt: skip

    async def send(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """``rate`` pings/s for ``duration`` s over every live driver; returns what was sent and how late."""
        conns = [c for c in self.conns if c.alive and c.transport is not None]
        if not conns:
            raise RuntimeError("no live driver socket")
        rate, duration, n = float(cmd["rate"]), float(cmd["duration"]), len(conns)
        errors_before = self.shared.sample_errors
        heads, tail = _frame_parts(n, cmd["mode"])
        writes = [c.transport.write for c in conns if c.transport is not None]
        last = [0.0] * n  # per driver: ts strictly increases even when one tick sends it two pings
        limit, sent, behind, base = int(rate * duration), 0, 0.0, self.cursor
        t0 = time.monotonic()
        deadline = t0 + duration
        while sent < limit:
            now = time.monotonic()
            if now >= deadline:
                break
            due = min(limit, int((now - t0) * rate) + 1, sent + _MAX_BATCH)
            if due > sent:
                behind = max(behind, now - (t0 + sent / rate))
                wall = time.time()
                for j in range(sent, due):
                    d = (base + j) % n
                    ts = last[d] = wall if wall > last[d] else last[d] + 1e-6
                    writes[d](masked_frame(heads[d] + repr(ts).encode() + tail))
                sent = due
            # Still behind (the batch was capped): only let the loop breathe; else wait for the next tick.
            await asyncio.sleep(0 if (time.monotonic() - t0) * rate > sent + 1 else _TICK_S)
        t1 = time.monotonic()
        self.cursor = (base + sent) % n
        return {
            "sent": sent,
            "seconds": round(t1 - t0, 4),
            "t_end": t1,  # CLOCK_MONOTONIC is system-wide: comparable with the receivers' last_rx
            "sent_per_s": round(sent / max(1e-9, t1 - t0), 1),
            "max_behind_ms": round(behind * 1000, 2),  # the most the schedule slipped (client busy)
            "write_buffered_bytes": sum(c.transport.get_write_buffer_size() for c in conns if c.transport),
            "paused_sockets": sum(1 for c in conns if not c.writable.is_set()),
            "drivers": n,
            "alive": sum(1 for c in conns if c.alive),
            "error_frames": self.shared.sample_errors - errors_before,
            "error_samples": self.errors[:_KEEP_ERRORS],
            "closed": {str(k): v for k, v in self.shared.closed.items()},
        }

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for conn in self.conns:
            conn.close()
        self.conns = []
        self.shared.closed = {}
        self.errors.clear()
        return {}


def _frame_parts(n: int, mode: str) -> tuple[list[bytes], bytes]:
    """Per driver the frame up to ``"ts":``, and what follows the timestamp; positions spread around Abidjan."""
    heads = []
    for d in range(n):
        lat, lon = 5.30 + (d % 97) * 0.001, -4.05 + (d % 89) * 0.001
        body = f'{{"type":"gps","lat":{lat:.5f},"lon":{lon:.5f},"accuracy":8.5,"speed":11.2,"heading":270,"ts":'
        heads.append((f'42["gps",{body}' if mode == "eio" else body).encode())
    return heads, b"}]" if mode == "eio" else b"}"


def main() -> None:
    raise_nofile()
    drivers = Drivers()
    handlers = {"login": drivers.login, "open": drivers.open, "send": drivers.send, "close_all": drivers.close_all}
    uvloop.run(serve_lines(handlers, drivers.close_all))


if __name__ == "__main__":
    main()
