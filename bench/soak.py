"""``python -m bench.soak`` (``make soak``): the city at half its capacity for 30 minutes; is anything leaking?

The city scenario's machinery (:mod:`bench.scenarios.city`): a PostgreSQL database migrated, seeded and given
500 trucks with an open shift each and 1,000 driver accounts, two hub processes on it sharing Redis, 4 tablets
per shift (2,000) on both nodes, 1,000 drivers pinging every 2 s, 20 ``gps:fleet`` dashboards, and REST orders
going on all along — at half the city's capacity: the highest order rate the city's capacity search held
(docs/benchmarks.md), halved. Every minute, each hub process's RSS (/proc) and connections (its /metrics), the
error frames the clients got, the disconnects by close code, and the orders acknowledged against the tickets the
tablets received. At the end: the verdict (:mod:`bench.soak_report`), docs/soak.md, and exit status 1 when it
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis.exceptions
import uvloop
from sqlalchemy.engine import make_url

from bench import report
from bench.cluster import Postgres, Services, clear_namespace, hub_nodes
from bench.machine import machine
from bench.pool import WorkerHandle
from bench.procs import Children, plan_pinning
from bench.scenarios.base import PROFILES
from bench.scenarios.city_data import DRIVER_PASSWORD, DRIVER_PREFIX, LOCATIONS, prepare_template
from bench.soak_probe import Probe, city_capacity
from bench.soak_report import render, verdict
from bench.targets import Target, Targets

__all__ = ["SoakOptions", "main", "run"]

ROOT = Path(__file__).resolve().parents[1]
_CITY = PROFILES["quick"]  # the city's nominal sizes: 500 shifts × 4 tablets, 1,000 drivers, 20 dashboards
_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
_REDIS = "redis://127.0.0.1:6379/0"
CONNECTIONS = 16  # POS keep-alive connections per hub node, as the city
MAX_ORDERS_PER_SLOT = 10_000  # per shift and minute (the most the API takes): far above what a shift gets
OPEN_TIMEOUT_S = 120.0
GRACE_S = 10.0  # after the last answer: the receipts still due
# After the last scheduled order: the answers still due (orders queue up on a busy machine) for at most this long,
# which keeps ``finish`` within the client processes' 600 s command timeout (bench/pool.py) …
ANSWER_S = 240.0
STALL_S = 30.0  # … as long as one comes every this many seconds
DASH_SAMPLE_EVERY = 10  # dashboards decode one frame in N (latency; a non-position frame counts as an error)


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 30.0
    interval_s: float = 60.0  # one row of the report every this many seconds
    warmup_minutes: float = 5.0  # RSS is judged from here (or from a third of a shorter soak) to the end
    nodes: int = 2
    shifts: int = _CITY.city_shifts
    tablets_per_shift: int = _CITY.city_tablets_per_shift
    drivers: int = _CITY.city_drivers
    ping_interval_s: float = _CITY.city_ping_interval_s
    dashboards: int = _CITY.city_dashboards
    order_rate: float | None = None  # None: half the city's capacity (docs/benchmarks.md)
    services: Services = field(default_factory=lambda: Services(_POSTGRES, _REDIS))
    docs: Path | None = ROOT / "docs" / "soak.md"
    capacity_docs: Path = ROOT / "docs" / "benchmarks.md"
    results_dir: Path = ROOT / "bench" / "results"
    command: str = "`python -m bench.soak`"


async def run(options: SoakOptions) -> dict[str, Any]:
    """The whole soak; every process it started is stopped and its database and Redis keys deleted."""
    capacity = city_capacity(options.capacity_docs)
    rate = options.order_rate if options.order_rate is not None else capacity["orders_per_s"] / 2
    record: dict[str, Any] = {
        "machine": machine(ROOT),
        "options": {k: str(v) if isinstance(v, Path | Services) else v for k, v in asdict(options).items()},
        "capacity": capacity,
        "order_rate": rate,
        "load_start": _load(),
    }
    print(f"soak: {options.minutes:g} min, {rate:g} orders/s (city capacity {capacity['source']})", flush=True)
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="fusionx-soak-"))
    targets = Targets(children, plan_pinning(), workdir, ROOT)
    pg = Postgres(options.services.database_url)
    try:
        template = await prepare_template(pg, targets, options.shifts, options.drivers)
        db = await pg.create("bench_soak", template=template.database)
        namespace = f"bench-soak-{uuid.uuid4().hex[:10]}"
        broker = {"HUB_BROKER_URL": options.services.redis_url, "HUB_REDIS_NAMESPACE": namespace}
        broker = broker if options.nodes > 1 else {}
        # Every tablet and dashboard holds the manager's token, as in the city: far more sockets than the per-user
        # cap (HUB_MAX_SOCKETS_PER_USER, 50 per node) lets one account open.
        cap = options.shifts * options.tablets_per_shift + options.dashboards + 50
        env = broker | {"HUB_MAX_SOCKETS_PER_USER": str(cap)}
        try:
            async with hub_nodes(targets, options.nodes, pg.url(db), cpus=None, broker=env, tag="soak") as hubs:
                record |= await _with_clients(options, rate, hubs, targets, template.truck_ids, db)
        finally:
            if options.nodes > 1:
                await clear_namespace(options.services.redis_url, namespace)
        record |= {"database": db, "redis_namespace": namespace if options.nodes > 1 else None}
    except (asyncpg.PostgresError, redis.exceptions.RedisError, OSError) as exc:
        raise RuntimeError(f"soak: {type(exc).__name__}: {exc}") from None
    finally:
        await children.close()
        shutil.rmtree(workdir, ignore_errors=True)
        await pg.drop_all()
    record["load_end"] = _load()
    record["verdict"] = verdict(record)
    return record


async def _with_clients(
    options: SoakOptions, rate: float, hubs: list[Target], targets: Targets, trucks: list[int], db: str
) -> dict[str, Any]:
    children, root = targets.children, str(targets.root)
    procs = [await children.start_worker(None, root, m) for m in ("bench.soakload", "bench.drivers", "bench.worker")]
    roles = ("POS + tablets", "drivers", "dashboards")
    load, drivers, dash = (WorkerHandle(p, None, r) for p, r in zip(procs, roles, strict=True))
    try:
        setup = await _connect(options, hubs, load, drivers, dash, trucks)
        print("  setup: " + ", ".join(f"{k} {v} s" for k, v in setup.items()), flush=True)
        redis_port = (make_url(options.services.redis_url).port or 6379) if options.nodes > 1 else None
        probe = Probe(hubs, [load, drivers, dash], db, redis_port)
        return {"setup_s": setup} | await _soak(options, rate, hubs[0].pub_token, probe)
    finally:
        for proc in procs:
            await children.stop(proc)


async def _connect(
    o: SoakOptions, hubs: list[Target], load: WorkerHandle, drivers: WorkerHandle, dash: WorkerHandle, trucks: list[int]
) -> dict[str, float]:
    """Shifts, driver logins and sockets, dashboards and tablets, as the city opens them."""
    host, token = "127.0.0.1", hubs[0].pub_token  # the manager's: every kds and gps:fleet, orders on every truck
    shifts = await load.call(
        "shifts", nodes=[[host, h.port] for h in hubs], token=token, trucks=trucks[: o.shifts],
        locations=list(LOCATIONS), config={"max_orders_per_slot": MAX_ORDERS_PER_SLOT, "slot_minutes": 1},
    )  # fmt: skip
    login = await drivers.call(
        "login", host=host, port=hubs[0].port, prefix=DRIVER_PREFIX, n=o.drivers, password=DRIVER_PASSWORD
    )
    opened = await drivers.call(
        "open", host=host, port=hubs[0].port, ports=[h.port for h in hubs], path="/ws", mode="ws", n=o.drivers,
        timeout=OPEN_TIMEOUT_S,
    )  # fmt: skip
    _fail_if(opened, o.drivers, "driver sockets")
    share = [o.dashboards // len(hubs) + (i < o.dashboards % len(hubs)) for i in range(len(hubs))]
    for hub, k in zip(hubs, share, strict=True):
        reply = await dash.call(
            "open", n=k, host=host, port=hub.port, path="/ws", mode="ws", token=token, topic="gps:fleet",
            timeout=OPEN_TIMEOUT_S,
        )  # fmt: skip
        _fail_if(reply, k, "gps:fleet dashboards")
    tablets = await load.call("tablets", per_shift=o.tablets_per_shift, token=token, timeout=OPEN_TIMEOUT_S)
    _fail_if(tablets, o.shifts * o.tablets_per_shift, "tablets")
    return {"shifts": shifts["seconds"], "driver logins": login["seconds"], "driver sockets": opened["seconds"],
            "tablets": tablets["seconds"]}  # fmt: skip


async def _soak(o: SoakOptions, rate: float, token: str, probe: Probe) -> dict[str, Any]:
    """Orders and pings for the whole soak, one row every ``interval_s``; then the account of every order."""
    duration, ping_rate = o.minutes * 60, o.drivers / o.ping_interval_s
    windows = max(1, math.ceil(duration / o.interval_s - 1e-9))
    await probe.begin(every=DASH_SAMPLE_EVERY)
    rows = [await probe.row(0, None, o.dashboards)]  # before any order: the baseline of the totals
    print(f"  minute 0: {probe.say(rows[-1])}", flush=True)
    started = await probe.load.call("start", rate=rate, duration=duration, token=token, connections=CONNECTIONS)
    t0 = time.monotonic()

    def ping_window(k: int) -> asyncio.Task[dict[str, Any]]:
        length = min(duration, (k + 1) * o.interval_s) - (time.monotonic() - t0)
        return asyncio.create_task(probe.drivers.call("send", rate=ping_rate, duration=max(0.1, length), mode="ws"))

    pings = ping_window(0)
    try:
        for k in range(windows):
            sent = await pings
            if k + 1 < windows:  # the next window's pings start at once: no gap while this row is taken
                pings = ping_window(k + 1)
            rows.append(await probe.row(time.monotonic() - t0, sent, o.dashboards))
            print(f"  {rows[-1]['elapsed_s'] / 60:5.1f} min: {probe.say(rows[-1])}", flush=True)
    finally:
        if not pings.done():
            pings.cancel()
    final = await probe.load.call("finish", grace_s=GRACE_S, answer_s=ANSWER_S, stall_s=STALL_S)
    after = await probe.row(time.monotonic() - t0, None, o.dashboards, final=final)
    print(f"  after the last answers and {GRACE_S:g} s of grace: {probe.say(after)}", flush=True)
    return {"orders_planned": started["orders"], "ping_rate": ping_rate, "rows": rows, "after": after}


def _fail_if(reply: dict[str, Any], n: int, what: str) -> None:
    if reply["failed"] or reply["opened"] < n:
        raise RuntimeError(f"soak: {reply['failed']} of {n} {what} failed: {reply['errors']}")


def _load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)], "cores": os.cpu_count(),
            "at": time.strftime("%H:%M:%S UTC", time.gmtime())}  # fmt: skip


def _command(generated_by: str, argv: list[str]) -> str:
    shown = " ".join(["python -m bench.soak", *map(shlex.quote, argv)])
    return f"`{generated_by}` (`{shown}`)" if generated_by else f"`{shown}`"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description="the city at half capacity, for long")
    p.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)), help="default 30")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between report rows (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="minutes before RSS is judged (default 5)")
    p.add_argument("--nodes", type=int, default=2, help="hub processes (default 2, Redis broker)")
    p.add_argument("--shifts", type=int, default=_CITY.city_shifts, help="shifts, each with its tablets")
    p.add_argument("--tablets-per-shift", type=int, default=_CITY.city_tablets_per_shift)
    p.add_argument("--drivers", type=int, default=_CITY.city_drivers)
    p.add_argument("--dashboards", type=int, default=_CITY.city_dashboards)
    p.add_argument("--order-rate", type=float, help="orders/s (default: half the city capacity)")
    p.add_argument("--docs", type=Path, default=ROOT / "docs" / "soak.md", help="the report (default docs/soak.md)")
    p.add_argument("--no-docs", action="store_true", help="write no report page")
    p.add_argument("--render-from", type=Path, help="only rewrite the page from this JSON record of a run")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="JSON record directory")
    p.add_argument("--generated-by", default="", help="command named in the report (the Makefile's)")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", _POSTGRES))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", _REDIS))
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.render_from is not None:  # the page again from a run's record (a report change needs no new soak)
        record = orjson.loads(args.render_from.read_bytes())
        record["verdict"] = verdict(record)
        args.docs.write_text(render(record, record["options"]["command"]))
        print(f"wrote {args.docs} from {args.render_from}")
        return 0 if record["verdict"]["ok"] else 1
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--generated-by" in shown:
        i = shown.index("--generated-by")
        del shown[i : i + 2]
    options = SoakOptions(
        minutes=args.minutes, interval_s=args.interval, warmup_minutes=args.warmup, nodes=args.nodes,
        shifts=args.shifts, tablets_per_shift=args.tablets_per_shift, drivers=args.drivers,
        dashboards=args.dashboards, order_rate=args.order_rate, services=Services(args.database_url, args.redis_url),
        docs=None if args.no_docs else args.docs, results_dir=args.results,
        command=_command(args.generated_by, shown),
    )  # fmt: skip
    try:
        record = uvloop.run(_main(options))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("soak interrupted: every child process was stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"soak failed to run: {exc}", file=sys.stderr)
        return 2
    for check in record["verdict"]["checks"]:
        print(f"{'PASS' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    return 0 if record["verdict"]["ok"] else 1


async def _main(options: SoakOptions) -> dict[str, Any]:
    task = asyncio.current_task()
    if task is not None:  # SIGTERM cancels the soak, so its ``finally`` clauses still stop every child
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    record = await run(options)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    print(f"wrote {report.write_json(options.results_dir, stamp, 'soak', record)}", flush=True)
    if options.docs is not None:
        options.docs.write_text(render(record, options.command))
        print(f"wrote {options.docs}", flush=True)
    return record


if __name__ == "__main__":
    sys.exit(main())
