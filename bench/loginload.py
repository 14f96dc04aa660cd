"""The logins scenario's client processes: ``python -m bench.loginload`` (JSON-line commands, :mod:`bench.lines`).

The scenario starts this module twice, one process per role, so neither role's work delays the
other's clock readings:

- **tablet** (``open``, ``window``): one websocket with the chef's token sending
  ``{"type":"ping","id":n}`` every 10 ms, open-loop (a late pong never delays the next ping).
  Each ping's send time is read with ``time.time()`` just before the write, so the round trip is
  from when the ping actually left, not from its schedule; the pong's ``server_time``
  (protocol.md §2: the hub's ``time.time()`` when it handled the ping, the same clock on this
  machine) splits it into the hub's part (send → handled) and the way back.
- **logins** (``burst``): ``n`` concurrent ``POST /api/auth/login``, each on its own keep-alive
  connection opened before the burst, 60 % with the right password and 40 % with a wrong one.
  Every login of the run has the next bench user (``users`` of them, rotating) and its own
  ``X-Forwarded-For`` address, so no throttle counter (per username and address, per address,
  per account) fills up: a 429 is a finding, not the design.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import uvloop

from bench.httpclient import HttpError, HttpPool
from bench.lines import serve_lines
from bench.worker import raise_nofile
from bench.wsclient import WsClient
from bench.wscounters import Shared

__all__ = ["Logins", "PingTablet", "Pinger", "address", "is_wrong", "main"]

_OPEN_TIMEOUT_S = 30.0
_LOGIN_PATH = "/api/auth/login"


def is_wrong(i: int) -> bool:
    """Login ``i`` of a burst uses a wrong password: 2 of every 5 (40 %), spread through the burst."""
    return i % 5 in (1, 3)


def address(k: int) -> str:
    """The ``X-Forwarded-For`` address of the run's login ``k``: 10.0.0.1, 10.0.0.2, … (one per login)."""
    k += 1
    return f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"


class PingTablet(WsClient):
    """A tablet socket whose every text frame after ``welcome`` goes to :meth:`Pinger.on_frame`."""

    def __init__(self, shared: Shared, pinger: Pinger, **kw: Any) -> None:
        super().__init__(shared, **kw)
        self.pinger = pinger

    def _sample(self, data: bytes, start: int, end: int, now: float) -> None:
        self.pinger.on_frame(data[start:end], now)


class Pinger:
    """The tablet role: one socket, a ping every ``interval_s``, every ping's (sent, round trip, hub part)."""

    def __init__(self) -> None:
        self.shared = Shared()
        self.tablet: PingTablet | None = None
        self.task: asyncio.Task[None] | None = None
        self.pending: dict[int, float] = {}  # ping id → send time, until its pong
        self.done: list[tuple[float, float, float | None]] = []  # (sent, round trip s, server_time − sent s)
        self.unexpected: list[str] = []  # frames other than pongs (errors, events): none expected
        self.late_s = 0.0  # the most a ping left after its scheduled time (this process's own delay)

    def on_frame(self, frame: bytes, now: float) -> None:
        try:
            msg = orjson.loads(frame)
            if msg.get("type") != "pong":
                raise ValueError
            sent = self.pending.pop(int(msg["id"]))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError):
            self.unexpected.append(frame[:120].decode(errors="replace"))
            return
        server = msg.get("server_time")
        self.done.append((sent, now - sent, float(server) - sent if isinstance(server, int | float) else None))

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Connect with ``token``, wait for ``welcome``, then ping every ``interval_s`` until ``close_all``."""
        await self.close_all()
        self.shared.reset(every=1)  # decode every frame: ~100 pongs/s
        loop = asyncio.get_running_loop()
        _, tablet = await asyncio.wait_for(
            loop.create_connection(
                lambda: PingTablet(
                    self.shared, self, host=cmd["host"], port=cmd["port"], path="/ws", mode="ws",
                    token=cmd["token"], topic=None,
                ),
                cmd["host"], cmd["port"],
            ),
            _OPEN_TIMEOUT_S,
        )  # fmt: skip
        await asyncio.wait_for(tablet.ready, _OPEN_TIMEOUT_S)
        self.tablet = tablet
        self.task = asyncio.create_task(self._ping(tablet, float(cmd["interval_s"])))
        return {}

    async def _ping(self, tablet: PingTablet, interval: float) -> None:
        n = 0
        due = time.monotonic()
        while tablet.alive:
            n += 1
            sent = time.time()
            self.pending[n] = sent  # before the write: the pong cannot arrive first, but the entry must exist
            tablet.send_text(b'{"type":"ping","id":%d}' % n)
            self.late_s = max(self.late_s, time.monotonic() - due)
            due += interval
            delay = due - time.monotonic()
            if delay < 0:  # this process fell behind: no catch-up burst, the next ping leaves now
                due, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)

    async def window(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """The pings sent in [``t0``, ``t1``]: waits up to ``grace_s`` after ``t1`` for their pongs, then returns
        their round trips and hub parts in seconds (the orchestrator computes percentiles over several windows)."""
        t0, t1, grace = float(cmd["t0"]), float(cmd["t1"]), float(cmd["grace_s"])
        while time.time() < t1 + grace and any(t0 <= s <= t1 for s in self.pending.values()):
            await asyncio.sleep(0.01)
        mine = [d for d in self.done if t0 <= d[0] <= t1]
        unanswered = sum(1 for s in self.pending.values() if t0 <= s <= t1)
        late, self.late_s = self.late_s, 0.0
        worst = sorted(mine, key=lambda d: d[1], reverse=True)[:5]
        return {
            "sent": len(mine) + unanswered,
            "answered": len(mine),
            "unanswered": unanswered,
            "rtt_s": [d[1] for d in mine],
            "hub_s": [d[2] for d in mine if d[2] is not None],
            "unexpected_frames": self.unexpected[:5],
            "n_unexpected_frames": len(self.unexpected),
            "alive": bool(self.tablet is not None and self.tablet.alive),
            "closed": {str(k): v for k, v in self.shared.closed.items()},
            "client_late_ms": round(late * 1000, 2),  # since the previous window
            # the slowest pings: when they left (ms after t0), round trip and hub part (ms); where in a burst they fall
            "worst": [[round((d[0] - t0) * 1000, 1), round(d[1] * 1000, 2), _ms(d[2])] for d in worst],
        }

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.tablet is not None:
            self.tablet.close()
            self.tablet = None
        self.pending, self.done, self.unexpected = {}, [], []
        return {}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Logins:
    """The logins role: bursts of concurrent logins, every one answered or timed out before the reply."""

    async def burst(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """``n`` logins at once; login ``i`` is the run's login ``first + i`` (its user and its address).

        Returns the burst's ``t0`` (all sent) and ``t1`` (last answer), the status counts, the unexpected ones
        (a right password not answered 200 or 503, a wrong one not 401) and every login's latency in seconds.
        """
        n, first, users = int(cmd["n"]), int(cmd["first"]), int(cmd["users"])
        prefix, password, timeout = str(cmd["prefix"]), str(cmd["password"]), float(cmd["timeout_s"])
        pool = await HttpPool.open(cmd["host"], cmd["port"], n)  # the TCP handshakes are not part of the burst
        try:
            t0 = time.time()
            answers = await asyncio.gather(
                *(self._one(pool, i, first + i, users, prefix, password, timeout) for i in range(n))
            )
            t1 = time.time()
        finally:
            pool.close()
        statuses: dict[str, int] = {}
        unexpected: dict[str, int] = {}
        for i, (status, _) in enumerate(answers):
            statuses[status] = statuses.get(status, 0) + 1
            wanted = ("401",) if is_wrong(i) else ("200", "503")  # 503: the hashing queue was full, by design
            if status not in wanted:
                key = f"{'wrong' if is_wrong(i) else 'right'} password → {status}"
                unexpected[key] = unexpected.get(key, 0) + 1
        return {
            "t0": t0,
            "t1": t1,
            "n": n,
            "wrong": sum(1 for i in range(n) if is_wrong(i)),
            "statuses": statuses,
            "unexpected": unexpected,
            "latency_s": [done - t0 for _, done in answers],
        }

    async def _one(
        self, pool: HttpPool, i: int, k: int, users: int, prefix: str, password: str, timeout: float
    ) -> tuple[str, float]:
        body = orjson.dumps(
            {"username": f"{prefix}{k % users + 1}", "password": password + "-wrong" if is_wrong(i) else password}
        )
        try:
            status, raw = await asyncio.wait_for(
                pool.request("POST", _LOGIN_PATH, body, headers={"X-Forwarded-For": address(k)}), timeout
            )
        except TimeoutError:
            return "timeout", time.time()
        except HttpError:
            return "connection error", time.time()
        if status == 200 and b'"access_token"' not in raw:
            return "200 without a token", time.time()
        return str(status), time.time()


def main() -> None:
    raise_nofile()
    pinger, logins = Pinger(), Logins()
    handlers = {"open": pinger.open, "window": pinger.window, "burst": logins.burst, "close_all": pinger.close_all}
    uvloop.run(serve_lines(handlers, pinger.close_all))


if __name__ == "__main__":
    main()
