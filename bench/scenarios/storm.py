"""Storm: a node restarts under N kitchen tablets; how long until every one is back, resubscribed and up to date?

The node (SQLite, in-process broker: the default deployment) runs with N tablets, each logged in
with its own session and subscribed to its shift's ``kds:`` topic. It is stopped (SIGTERM: the
drain closes every socket with a reconnect code) and started again on the same database and
port, with nothing warm: no session confirmed, a new stream epoch. The moment it answers
``/readyz``, every tablet comes back at once (:mod:`bench.stormload`): hello, subscribe with
``since`` its last position, and, because the epoch changed, the KDS snapshot over REST. Refused
tablets (admission control: 503 at the upgrade, or 1013 when a hello got no slot in time) retry with the Python
client's full-jitter backoff, as real ones do.
"""

from __future__ import annotations

import asyncio
import datetime
import math
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from app.security import TokenSigner
from bench.httpclient import HttpPool
from bench.pool import WorkerHandle
from bench.procs import free_port
from bench.scenarios.base import Context, Profile, Setup
from bench.scenarios.storm_report import METHOD, TARGETS, headline, line, table
from bench.targets import HUB_ENV, Target

__all__ = ["METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "storm"
SECRET = "bench-storm-secret-key-of-at-least-32-chars"
PER_USER = 4  # tablets per staff account
PER_SHIFT = 20  # tablets per shift (a food hall's kitchen line); N / PER_SHIFT trucks, each with one open shift
LOCATIONS = (1, 2)  # seeded; shifts alternate between them
TICKETS = 5  # open tickets per shift: what each snapshot refetch carries
ITEMS = [{"item_id": 6, "qty": 2}, {"item_id": 8, "qty": 1}]
OPEN_CONCURRENCY = 64  # the first time the tablets open: not a storm
TIMEOUT_S = 30.0  # one connection attempt (connect + hello + subscribe)
BUDGET_S = 120.0  # a tablet not back by then counts as failed
HUB_SETTINGS = {"HUB_SECRET_KEY": SECRET, "HUB_MAX_SOCKETS_PER_USER": str(PER_USER), "HUB_HELLO_TIMEOUT_S": "10"}


def sizes(profile: Profile) -> tuple[int, ...]:
    return profile.storm_tablets


def setup(profile: Profile) -> Setup:
    return Setup(targets=("hub",), own_servers=True)  # it starts the node, stops it, starts it again


def _sessions(db: Path, n: int) -> tuple[list[int], list[tuple[dict[str, Any], str]]]:
    """``ceil(n / PER_SHIFT)`` trucks, ``ceil(n / PER_USER)`` staff accounts (each of one truck) and ``n`` sessions
    (one per tablet), straight into the database before the node first starts: the trucks whose shifts the run
    opens, and the user and session each tablet's token names (tablet ``i`` is on truck ``i // PER_SHIFT``)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    users, trucks = math.ceil(n / PER_USER), math.ceil(n / PER_SHIFT)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO trucks (name, active, created_at) VALUES (?, 1, ?)",
            [(f"bench-storm-truck-{t}", now) for t in range(trucks)],
        )
        truck_ids = [
            tid for (tid,) in conn.execute("SELECT id FROM trucks WHERE name LIKE 'bench-storm-truck-%' ORDER BY id")
        ]
        conn.executemany(
            "INSERT INTO users (username, password_hash, role, truck_id, active, created_at) "
            "VALUES (?, 'not-a-login', 'staff', ?, 1, ?)",
            [(f"bench-storm-{u}", truck_ids[u * PER_USER // PER_SHIFT], now) for u in range(users)],
        )
        rows = conn.execute("SELECT id, username FROM users WHERE username LIKE 'bench-storm-%'").fetchall()
        by_name = {name: uid for uid, name in rows}
        out = []
        for i in range(n):
            name = f"bench-storm-{i // PER_USER}"
            user = {"id": by_name[name], "username": name, "role": "staff", "truck_id": truck_ids[i // PER_SHIFT]}
            sid = secrets.token_hex(16)
            out.append((user, sid))
        conn.executemany(
            "INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?, ?, ?)",
            [(sid, user["id"], now) for user, sid in out],
        )
    conn.close()
    return truck_ids, out


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is None, "this scenario starts its own node"
    return {"target": "hub", "sizes": [row for n in sizes for row in await _one_size(n, ctx)]}


async def _one_size(n: int, ctx: Context) -> list[dict[str, Any]]:
    """Two restarts of one node under the same ``n`` tablets: first they refetch their snapshots as real ones
    do, then (the node restarted again) they only say hello and resubscribe, which is what the hello rate of
    the hub alone is judged on."""
    db, port = ctx.targets.workdir / f"storm-{n}.db", free_port()
    sessions: list[tuple[dict[str, Any], str]] = []
    trucks: list[int] = []

    def prepare(path: Path) -> None:
        made = _sessions(path, n)
        trucks.extend(made[0])
        sessions.extend(made[1])

    first = Setup(targets=("hub",), hub_db=db, port=port, prepare_hub_db=prepare, hub_env=HUB_SETTINGS)
    again = Setup(targets=("hub",), hub_db=db, port=port, hub_env=HUB_SETTINGS)
    root, cpus = str(ctx.targets.root), ctx.pinning.clients
    proc = await ctx.targets.children.start_worker(cpus, root, "bench.stormload")
    client = WorkerHandle(proc, cpus, "tablets")
    try:
        async with ctx.targets.running("hub", first) as node:
            signer = TokenSigner(SECRET, access_ttl_s=int(HUB_ENV["HUB_ACCESS_TTL_S"]))
            tokens = [signer.issue(user=user, session_id=sid)[0] for user, sid in sessions]
            setup_started = time.monotonic()
            shift_ids = await _shifts_with_tickets(node, trucks)
            setup_s = time.monotonic() - setup_started
            shifts, host = [shift_ids[i // PER_SHIFT] for i in range(n)], {"host": "127.0.0.1", "port": port}
            opened = await client.call("open", **host, tokens=tokens, shifts=shifts, concurrency=OPEN_CONCURRENCY,
                                       timeout=TIMEOUT_S)  # fmt: skip
            if opened["failed"]:
                raise RuntimeError(f"storm N={n}: {opened['failed']} tablets did not open: {opened['errors']}")
            ctx.say(f"  storm N={n}: {len(shift_ids)} shifts with {TICKETS} tickets each in {setup_s:.1f} s, "
                    f"{opened['opened']} tablets subscribed in {opened['seconds']} s")  # fmt: skip
            stopping = time.monotonic()
            await ctx.targets.children.stop(node.proc, timeout=30.0)
            stop_s = time.monotonic() - stopping
        rows = []
        for refetch in (True, False):
            closed = await client.call("wait_closed", timeout=30.0)
            starting = time.monotonic()
            async with ctx.targets.running("hub", again) as node:
                ready_s = time.monotonic() - starting
                meter, overflows = ctx.meter(node, client.pid), listen_overflows()
                storm = await client.call("storm", **host, budget_s=BUDGET_S, timeout=TIMEOUT_S, refetch=refetch)
                cpu = meter.stop()
                if overflows is not None and (after := listen_overflows()) is not None:
                    storm["listen_overflows"] = after - overflows
                stopping = time.monotonic()
                await ctx.targets.children.stop(node.proc, timeout=30.0)  # SIGTERM: the tablets are closed again
            row = {"tablets": n, "refetch": refetch, "sessions": len(sessions), "users": math.ceil(n / PER_USER),
                   "shifts": len(trucks), "tickets_per_shift": TICKETS, "open_s": opened["seconds"],
                   "stop_s": round(stop_s, 2), "closes_at_stop": closed["closes"], "ready_s": round(ready_s, 2),
                   "storm": storm, "cpu": cpu}  # fmt: skip
            row["verdict"] = _verdict(row)
            ctx.say(f"    {line(row)}")
            rows.append(row)
            stop_s = time.monotonic() - stopping  # the stop before the next restart
        await client.call("close_all")
    finally:
        await ctx.targets.children.stop(proc)
    return rows


async def _shifts_with_tickets(node: Target, trucks: list[int]) -> list[int]:
    """One open shift per truck with :data:`TICKETS` open tickets each, opened by the manager."""
    pool = await HttpPool.open("127.0.0.1", node.port, 8)
    token = node.pub_token  # the manager: every truck

    async def one(k: int, truck: int) -> int:
        body = orjson.dumps({"truck_id": truck, "location_id": LOCATIONS[k % len(LOCATIONS)]})
        raw = await _expect(pool.request("POST", "/api/shifts", body, token=token), 201, f"check-in of truck {truck}")
        shift_id = int(orjson.loads(raw)["id"])
        order = orjson.dumps({"customer_name": "storm", "items": ITEMS})
        for _ in range(TICKETS):
            await _expect(pool.request("POST", f"/api/shifts/{shift_id}/orders", order, token=token), 201, "order")
        return shift_id

    try:
        return list(await asyncio.gather(*(one(k, t) for k, t in enumerate(trucks))))
    finally:
        pool.close()


async def _expect(call: Any, status: int, what: str) -> bytes:
    got, raw = await call
    if got != status:
        raise RuntimeError(f"storm: {what} answered HTTP {got}: {raw[:200]!r}")
    return bytes(raw)


def _verdict(r: dict[str, Any]) -> str:
    storm, misses = r["storm"], []
    if storm["failed"]:
        misses.append(f"{storm['failed']} not back")
    if storm["all_back_s"] is not None and storm["all_back_s"] > TARGETS["all_back_s"]:
        misses.append(f"all back in {storm['all_back_s']:.1f} s > {TARGETS['all_back_s']:g}")
    p99 = storm["hello_to_welcome_ms"]["p99"]
    if p99 is not None and p99 > TARGETS["hello_p99_ms"]:
        misses.append(f"hello p99 {p99:,.0f} ms > {TARGETS['hello_p99_ms']:,.0f}")
    rate = storm["welcomed_per_s"]
    if rate is not None and rate < TARGETS["hellos_per_s"]:
        misses.append(f"{rate:,.0f} hellos/s < {TARGETS['hellos_per_s']:,.0f}")
    return "met" if not misses else "; ".join(misses)


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listening socket's accept queue was full (every
    socket on the machine: the bench's server is the one taking thousands of connects at once); None off Linux."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(row["ListenOverflows"]) if "ListenOverflows" in row else None
    return None
