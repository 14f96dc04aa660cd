"""The orchestrator's side of the client processes: start, command, merge their answers, stop.

Receivers (one per client CPU unless told otherwise) hold the subscriber sockets, split
evenly; a separate publisher process holds the manager's socket. All are pinned to the
client CPUs so the server's CPU stays its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from bench.procs import Children, Pinning
from bench.targets import Target

__all__ = ["ClientPool", "WorkerHandle", "merge_stats"]

_CALL_TIMEOUT_S = 600.0


class WorkerHandle:
    def __init__(self, proc: asyncio.subprocess.Process, cpus: frozenset[int] | None, role: str) -> None:
        self.proc = proc
        self.cpus = cpus
        self.role = role
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def call(self, op: str, **kw: Any) -> dict[str, Any]:
        """One command, one reply; a dead or failing worker raises with its message."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write(orjson.dumps({"op": op, **kw}) + b"\n")
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), _CALL_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"client process {self.pid} ({self.role}) exited during {op!r}")
        reply: dict[str, Any] = orjson.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"client process {self.pid} ({self.role}) failed {op!r}: {reply.get('error')}")
        return reply


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Receiver stats as if one process had all the sockets."""
    closed: dict[str, int] = {}
    for p in parts:
        for code, n in p["closed"].items():
            closed[code] = closed.get(code, 0) + n
    with_live = [p for p in parts if p["live"]]
    return {
        "now": max((p["now"] for p in parts), default=0.0),
        "total": sum(p["total"] for p in parts),
        "live": sum(p["live"] for p in parts),
        "min": min((p["min"] for p in with_live), default=0),
        "max": max((p["max"] for p in with_live), default=0),
        "closed": closed,
        "last_rx": max((p["last_rx"] for p in parts), default=0.0),
        "frame_bytes": max((p["frame_bytes"] for p in parts), default=0),
        "sample_errors": sum(p["sample_errors"] for p in parts),
        "samples": [s for p in parts for s in p.get("samples", ())],
    }


class ClientPool:
    def __init__(self, receivers: list[WorkerHandle], publisher: WorkerHandle) -> None:
        self.receivers = receivers
        self.publisher = publisher

    @classmethod
    async def start(cls, children: Children, pinning: Pinning, root: str, processes: int = 0) -> ClientPool:
        """``processes`` receivers (0: one per client CPU), each pinned to one client CPU; the publisher
        may use any client CPU."""
        cpus = sorted(pinning.clients) if pinning.clients is not None else []
        count = processes or max(1, len(cpus))
        receivers = []
        for i in range(count):
            mine = frozenset({cpus[i % len(cpus)]}) if cpus else None
            receivers.append(WorkerHandle(await children.start_worker(mine, root), mine, "receiver"))
        publisher = WorkerHandle(await children.start_worker(pinning.clients, root), pinning.clients, "publisher")
        return cls(receivers, publisher)

    @property
    def workers(self) -> list[WorkerHandle]:
        return [*self.receivers, self.publisher]

    async def _each(self, op: str, **kw: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.call(op, **kw) for w in self.receivers)))

    async def open_subscribers(self, target: Target, n: int, timeout: float = 120.0) -> dict[str, Any]:
        """``n`` sockets split over the receivers, each subscribed to the target's topic (none for ``raw``)."""
        share = [
            n // len(self.receivers) + (1 if i < n % len(self.receivers) else 0) for i in range(len(self.receivers))
        ]
        topic = None if target.mode == "raw" else target.topic
        replies = await asyncio.gather(
            *(
                w.call(
                    "open",
                    n=k,
                    host="127.0.0.1",
                    port=target.port,
                    path=target.path,
                    mode=target.mode,
                    token=target.sub_token,
                    topic=topic,
                    timeout=timeout,
                )  # fmt: skip
                for w, k in zip(self.receivers, share, strict=True)
                if k
            )
        )
        return {
            "opened": sum(r["opened"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": max((r["seconds"] for r in replies), default=0.0),
        }

    async def open_publisher(self, target: Target) -> None:
        reply = await self.publisher.call(
            "open", n=1, host="127.0.0.1", port=target.port, path=target.path, mode=target.mode,
            token=target.pub_token, topic=None, timeout=30.0,
        )  # fmt: skip
        if reply["opened"] != 1:
            raise RuntimeError(f"{target.name}: publisher socket failed: {reply['errors']}")

    async def poke(self) -> None:
        await self._each("poke")

    async def reset(self, every: int = 0) -> None:
        await self._each("reset", every=every)

    async def stats(self, samples: bool = False) -> dict[str, Any]:
        return merge_stats(await self._each("stats", samples=samples))

    async def wait(self, expect: int, timeout: float, samples: bool = False) -> dict[str, Any]:
        return merge_stats(await self._each("wait", expect=expect, timeout=timeout, samples=samples))

    async def settle(self, quiet: float = 0.3, timeout: float = 20.0) -> dict[str, Any]:
        return merge_stats(await self._each("settle", quiet=quiet, timeout=timeout))

    async def publish(self, target: Target, rate: float, duration: float, filler: dict[str, Any]) -> dict[str, Any]:
        return await self.publisher.call(
            "publish", rate=rate, duration=duration, mode=target.mode, topic=target.topic, filler=filler
        )

    async def burst(self, target: Target, n: int, first: int, filler: dict[str, Any]) -> dict[str, Any]:
        """Publish ``n`` events now, numbered from ``first``: one window of a closed-loop publisher."""
        return await self.publisher.call("burst", n=n, first=first, mode=target.mode, topic=target.topic, filler=filler)

    async def close_all(self) -> None:
        await asyncio.gather(*(w.call("close_all") for w in self.workers))
