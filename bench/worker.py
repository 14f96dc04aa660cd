"""A client process: ``python -m bench.worker``. Commands arrive as JSON lines on stdin, replies go to stdout.

One process per client CPU holds the receiving sockets; another one publishes. The
orchestrator pins them (``os.sched_setaffinity``) away from the server's CPU and reads
their CPU use from /proc, so a client-bound figure is flagged, not silently reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from typing import Any

import orjson
import uvloop

from bench.wsclient import WsClient
from bench.wscounters import UNWATCHED, Shared

__all__ = ["main"]

_OPEN_CONCURRENCY = 64
_MAX_BATCH = 2000  # frames per publisher write
_TICK_S = 0.001


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (10k sockets need 10k descriptors); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Worker:
    def __init__(self) -> None:
        self.shared = Shared()
        self.conns: list[WsClient] = []

    # ---- connections ----

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open ``n`` sockets, each through its handshake (and subscription) before it counts as opened."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(_OPEN_CONCURRENCY)
        errors: list[str] = []
        timeout = float(cmd.get("timeout", 60.0))
        started = time.monotonic()

        async def one() -> None:
            async with gate:
                client: WsClient | None = None
                try:
                    _, made = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: WsClient(
                                self.shared,
                                host=cmd["host"],
                                port=cmd["port"],
                                path=cmd["path"],
                                mode=cmd["mode"],
                                token=cmd.get("token", ""),
                                topic=cmd.get("topic"),
                            ),
                            cmd["host"],
                            cmd["port"],
                        ),
                        timeout,
                    )
                    client = made
                    await asyncio.wait_for(made.ready, timeout)
                    self.conns.append(made)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    if client is not None:
                        client.close()

        await asyncio.gather(*(one() for _ in range(int(cmd["n"]))))
        return {
            "opened": int(cmd["n"]) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
            "seconds": time.monotonic() - started,
        }

    def poke(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """One text frame on every socket (tells the trivial flooder to start)."""
        for conn in self.conns:
            conn.send_text(cmd.get("text", "go").encode())
        return {}

    async def close_all(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for conn in self.conns:
            conn.close()
        self.conns = []
        return {}

    # ---- measuring ----

    def reset(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.shared.reset(int(cmd.get("every", 0)))
        for conn in self.conns:
            conn.count = 0
        self.shared.closed = {}
        return self.stats({})

    def stats(self, cmd: dict[str, Any]) -> dict[str, Any]:
        live = [c.count for c in self.conns if c.alive]
        shared = self.shared
        out: dict[str, Any] = {
            "now": time.monotonic(),
            "total": shared.total,
            "live": len(live),
            "min": min(live, default=0),
            "max": max(live, default=0),
            "closed": {str(k): v for k, v in shared.closed.items()},
            "last_rx": shared.last_rx,
            "frame_bytes": shared.frame_bytes,
            "sample_errors": shared.sample_errors,
            "n_samples": len(shared.samples),
        }
        if cmd.get("samples"):
            out["samples"] = [round(s, 6) for s in shared.samples]
        return out

    async def wait(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Until every live socket has counted ``expect`` frames, or ``timeout``. Woken by the receive path when
        the total could be enough (then checked socket by socket), so a closed-loop publisher loses no tick."""
        expect, deadline = int(cmd["expect"]), time.monotonic() + float(cmd["timeout"])
        shared = self.shared
        shared.woken = woken = asyncio.Event()
        try:
            while time.monotonic() < deadline:
                # The cheap total check first: a full scan of 10k sockets on every frame would cost the client CPU.
                if shared.total >= expect * shared.live:
                    behind = sum(expect - c.count for c in self.conns if c.alive and c.count < expect)
                    if not behind:
                        break
                    shared.wake_at = shared.total + behind  # the earliest the missing frames can all be here
                else:
                    shared.wake_at = expect * shared.live
                woken.clear()
                with contextlib.suppress(TimeoutError):  # a socket that closes changes ``live``: look again
                    async with asyncio.timeout(min(0.05, max(0.0, deadline - time.monotonic()))):  # no task per wait
                        await woken.wait()
        finally:
            shared.woken = None
            shared.wake_at = UNWATCHED
        return self.stats(cmd)

    async def settle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Until no frame arrived for ``quiet`` seconds (a backlog drained), or ``timeout``."""
        quiet, deadline = float(cmd.get("quiet", 0.3)), time.monotonic() + float(cmd.get("timeout", 20.0))
        last, since = self.shared.total, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if self.shared.total != last:
                last, since = self.shared.total, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return self.stats(cmd)

    # ---- publishing ----

    async def publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Publish at ``rate`` events/s for ``duration`` s; each event carries its wall-clock send time."""
        conn = next((c for c in self.conns if c.alive), None)
        if conn is None:
            now = time.monotonic()
            return {"sent": 0, "t0": now, "t1": now, "t_last": now, "stalls": 0, "alive": False, "error": "no socket"}
        rate, duration = float(cmd["rate"]), float(cmd["duration"])
        eio, topic, filler = cmd["mode"] == "eio", cmd["topic"], cmd["filler"]
        sent, stalls = 0, 0
        t0 = t_last = time.monotonic()
        deadline = t0 + duration
        limit = int(rate * duration) + 1
        while sent < limit:
            now = time.monotonic()
            if now >= deadline or not conn.alive:
                break
            if not conn.writable.is_set():  # the server stopped reading: the step will not keep up
                stalls += 1
                try:
                    await asyncio.wait_for(conn.writable.wait(), deadline - now)
                except TimeoutError:
                    break
                continue
            due = min(limit, int((now - t0) * rate) + 1)
            if due > sent:
                n = min(due - sent, _MAX_BATCH)
                conn.send_many(_publish_frames(n, sent, eio, topic, filler))
                sent, t_last = sent + n, time.monotonic()
            await asyncio.sleep(_TICK_S)
        t1 = time.monotonic()
        return {"sent": sent, "t0": t0, "t1": t1, "t_last": t_last, "stalls": stalls, "alive": conn.alive}

    def burst(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Publish ``n`` events at once, numbered from ``first`` (a closed-loop publisher's window)."""
        conn = next((c for c in self.conns if c.alive), None)
        if conn is None:
            return {"sent": 0, "alive": False, "writable": False}
        n, first = int(cmd["n"]), int(cmd["first"])
        conn.send_many(_publish_frames(n, first, cmd["mode"] == "eio", cmd["topic"], cmd["filler"]))
        return {"sent": n, "alive": conn.alive, "writable": conn.writable.is_set()}


def _publish_frames(n: int, first: int, eio: bool, topic: str, filler: dict[str, Any]) -> list[bytes]:
    """``n`` ticket-sized publish commands stamped with one send time (they leave in one write)."""
    now = time.time()
    out = []
    for k in range(first, first + n):
        data = {"t": now, "n": k, **filler}
        if eio:
            body = {"topic": topic, "event": "notice.posted", "data": data}
            out.append(b'42["publish",' + orjson.dumps(body) + b"]")
        else:
            out.append(orjson.dumps({"type": "publish", "topic": topic, "event": "notice.posted", "data": data}))
    return out


async def _serve() -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    handlers: dict[str, Any] = {
        "open": worker.open,
        "close_all": worker.close_all,
        "poke": worker.poke,
        "reset": worker.reset,
        "stats": worker.stats,
        "wait": worker.wait,
        "settle": worker.settle,
        "publish": worker.publish,
        "burst": worker.burst,
    }
    while True:
        line = await reader.readline()
        if not line:  # the orchestrator is gone
            break
        cmd = orjson.loads(line)
        if cmd["op"] == "exit":
            await worker.close_all()
            break
        try:
            result = handlers[cmd["op"]](cmd)
            if asyncio.iscoroutine(result):
                result = await result
            reply = {"ok": True, **result}
        except Exception as exc:  # reported to the orchestrator, which fails the run with this message
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(orjson.dumps(reply) + b"\n")
        out.flush()


def main() -> None:
    raise_nofile()
    uvloop.run(_serve())


if __name__ == "__main__":
    main()
