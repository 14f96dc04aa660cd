"""Ingest: driver sockets (2,000) send GPS pings at a rising aggregate rate; fleet dashboards receive every position.

Drivers send ``{"type":"gps",…,"ts":<send time>}`` frames (one lean client process, one frame per
write); a few dashboards subscribed to ``gps:fleet`` (the manager's token on the hub) are the
lean receivers, which decode one frame in N and record ``now - data.ts``. A step holds its rate
when the drivers sent it, no driver got an error frame, every dashboard got ≥ 99% of the pings
(the hub conflates a lagging subscriber's backlog: dropped positions count as missing) and the
ping → dashboard p99 stayed ≤ 50 ms. Rates double from a low start until a step fails, then bisect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from typing import Any

from bench.measure import fmt, p50_p99, percentiles, render_table, shorten, wait_server_quiet
from bench.pool import WorkerHandle
from bench.scenarios.base import Context, Metric, Profile, Setup
from bench.scenarios.ingest_support import (
    CHEAP_HASH_ENV,
    DRIVER_PASSWORD,
    DRIVER_PREFIX,
    add_driver_accounts,
    counter_delta,
    driver_ceiling,
    hub_counters,
)
from bench.targets import Target

__all__ = ["GPS_PER_S", "METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "ingest"
METHOD = """
- Ingest: one driver process (bench/drivers.py, lean sockets, one frame per write) sends `gps` frames round-robin over
  2,000 sockets at a set aggregate rate for a step, each with `ts` = its send time; 4 dashboards (the manager's token
  on the hub) subscribed to `gps:fleet` are the lean receivers, which decode one frame in N and record
  `now - data.ts`, counting the frames that came after the step too. On the hub every simulated driver logs in as its
  own `driver` account (`bench-driver-1`…, added to the hub's database copy with a minimal-cost argon2id hash of the
  same password, and the hub's `HUB_ARGON2_*` set to match, so 2,000 logins take seconds, not minutes) and the hub
  runs with `HUB_GPS_PER_S=1000` (the default of 5 per driver would refuse the load). Peers take any token, number
  their sockets as driver ids and fan every ping out (no conflation). A step holds its rate when no driver got an
  error frame, every dashboard got ≥ 99% of the pings, the last one within 0.05 s + 10% of the step after the last
  send, and ping → dashboard p99 ≤ 50 ms; rates double from 2,000/s, then bisect. Driver ceiling: the same process
  sending as fast as it can to the sink (bench/peers/trivial.py --sink), alone on the client CPU; a step whose drivers
  could not send its rate while the server read everything is the client's limit, flagged CLIENT-BOUND.
"""  # its bullet in docs/benchmarks.md's Method section
GPS_PER_S = 1000  # HUB_GPS_PER_S for this scenario: the contract's default (5 per driver) would refuse the load
P99_LIMIT_MS = 50.0
MIN_DELIVERED = 0.99  # share of the pings every dashboard must get
MIN_SENT = 0.95  # share of the step's pings the drivers must have sent (else the client could not keep up)
MAX_NOISY_RETRIES = 2
QUIET_PCT = 30.0
GRACE_S = 0.05  # + 10% of the step: how long after the last ping its last delivery may come
CLIENT_LIMITED = "drivers could not send the rate"  # the server read everything: the client was the limit
OPEN_TIMEOUT_S = 120.0
HUB_METRICS_FOLD_S = 1.2


def sizes(profile: Profile) -> tuple[int, ...]:
    return profile.ingest_drivers


def setup(profile: Profile) -> Setup:
    return Setup(
        hub_env={"HUB_GPS_PER_S": str(GPS_PER_S), **CHEAP_HASH_ENV},
        prepare_hub_db=functools.partial(add_driver_accounts, n=max(profile.ingest_drivers)),
    )


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is not None, "the runner starts this scenario's server"
    children = ctx.targets.children
    proc = await children.start_worker(ctx.pinning.clients, str(ctx.targets.root), "bench.drivers")
    client = WorkerHandle(proc, ctx.pinning.clients, "drivers")
    try:
        out = [await _one_size(target, n, client, ctx) for n in sizes]
    finally:
        await ctx.pool.close_all()
        await children.stop(proc)
    return {"target": target.name, "gps_per_s": GPS_PER_S, "sizes": out}


async def _connect(target: Target, n: int, client: WorkerHandle, ctx: Context) -> dict[str, Any]:
    """Driver logins (hub), driver sockets, then the dashboards (the pool's receivers) on ``gps:fleet``."""
    host = {"host": "127.0.0.1", "port": target.port}
    login = None
    if target.name == "hub":
        login = await client.call("login", **host, prefix=DRIVER_PREFIX, n=n, password=DRIVER_PASSWORD)
    opened = await client.call(
        "open", **host, path=target.path, mode=target.mode, n=n, token=target.sub_token, timeout=OPEN_TIMEOUT_S
    )
    if opened["failed"]:
        raise RuntimeError(f"{target.name}: {opened['failed']} of {n} driver sockets failed: {opened['errors']}")
    await _open_dashboards(target, ctx)
    return {"login_s": login["seconds"] if login else None, "open_s": opened["seconds"]}


async def _open_dashboards(target: Target, ctx: Context) -> None:
    """The dashboards (the pool's receivers) on ``gps:fleet``, all new."""
    await ctx.pool.close_all()
    fleet = dataclasses.replace(target, topic="gps:fleet", sub_token=target.pub_token)
    dashboards = await ctx.pool.open_subscribers(fleet, ctx.profile.ingest_dashboards)
    if dashboards["failed"]:
        raise RuntimeError(f"{target.name}: gps:fleet dashboards failed: {dashboards['errors']}")


async def _one_size(target: Target, n: int, client: WorkerHandle, ctx: Context) -> dict[str, Any]:
    profile = ctx.profile
    ceiling = await driver_ceiling(ctx, client, n)
    setup_s = await _connect(target, n, client, ctx)
    counted = await hub_counters(target)
    ctx.say(f"  {target.name} ingest: {n} drivers (login {setup_s['login_s']} s, open {setup_s['open_s']} s)")
    warm = await _step(target, n, client, ctx, min(500.0, profile.ingest_start_rate), 1.0)
    if warm["error_frames"] and not warm["delivered"]:
        raise RuntimeError(f"{target.name} answers gps with errors, delivers nothing: {warm['error_samples'][:2]}")
    steps: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []  # noisy failures run again; kept for the record (and the ping count)
    best: dict[str, Any] | None = None
    fail: dict[str, Any] | None = None
    rate, bisections, retries = profile.ingest_start_rate, 0, 0
    while len(steps) < profile.max_steps:
        step = await _step(target, n, client, ctx, rate, profile.ingest_step_s)
        ctx.say(f"    {rate:9.0f} pings/s: {_line(step)}")
        if step["dashboards_live"] < profile.ingest_dashboards:  # closed 4500 by an overload: the next step
            await _open_dashboards(target, ctx)  # must not count them as missing pings
        if not step["ok"] and step["cpu"]["noisy"] and retries < MAX_NOISY_RETRIES:
            retries += 1
            retried.append(step)
            continue  # the same rate again: this failure may be the machine's
        steps.append(step)
        if step["ok"]:
            best = step if best is None or rate > best["rate"] else best
        else:
            fail = step if fail is None or rate < fail["rate"] else fail
        if fail is None:
            rate *= 2
        elif best is None:
            rate /= 2
            if rate < 50:
                break
        elif bisections < profile.bisections:
            rate, bisections = round((best["rate"] + fail["rate"]) / 2), bisections + 1
        else:
            break
    common = next((s for s in steps if s["rate"] == profile.ingest_common_rate), None)
    if common is None and best is not None and profile.ingest_common_rate <= best["rate"]:
        common = await _step(target, n, client, ctx, profile.ingest_common_rate, profile.ingest_step_s)
    runs = [warm, *steps, *retried, *([common] if common is not None and common not in steps else [])]
    if target.name == "hub":  # the hub folds its GPS counters into /metrics once a second: wait for the last fold
        await asyncio.sleep(HUB_METRICS_FOLD_S)
    totals = counter_delta(counted, await hub_counters(target))
    return {
        "drivers": n,
        "dashboards": profile.ingest_dashboards,
        "setup_s": setup_s,
        "ceiling": ceiling,
        "warmup": warm,
        "steps": steps,
        "max": best,
        "common": common,
        "retried": retried,
        "sent_total": sum(r["sent"] for r in runs),
        "hub_totals": totals,  # hub_gps_positions_total / hub_dropped_frames_total{reason} over the whole size
        "lowest_failing_rate": fail["rate"] if fail else None,
        "limited_by": fail["why"] if fail else "not reached",
        "client_bound": bool((best and best["cpu"]["client_bound"]) or (fail and fail["cpu"]["client_bound"])),
    }


async def _step(
    target: Target, n: int, client: WorkerHandle, ctx: Context, rate: float, duration: float
) -> dict[str, Any]:
    """Drivers send ``rate`` pings/s for ``duration``; then every dashboard should have every ping."""
    pool, dashboards = ctx.pool, ctx.profile.ingest_dashboards
    await wait_server_quiet(target.pid, below_pct=QUIET_PCT, timeout=30.0)
    every = max(1, int(rate * duration * dashboards / ctx.profile.latency_samples))
    await pool.reset(every)
    before = await hub_counters(target)
    meter = ctx.meter(target, client.pid)
    sent = await client.call("send", rate=rate, duration=duration, mode=target.mode)
    grace = GRACE_S + 0.1 * duration
    st = await pool.wait(sent["sent"], timeout=grace, samples=True)
    cpu = meter.stop()
    if st["min"] < sent["sent"]:
        # Not all there: let the backlog drain, then count what is missing. The late frames' samples count too
        # (a latency taken only over the frames that came in time would hide the backlog).
        await pool.settle(quiet=0.3, timeout=60.0)
        await wait_server_quiet(target.pid, below_pct=QUIET_PCT, timeout=60.0)
        st = await pool.settle(quiet=0.3, timeout=30.0) | {"samples": (await pool.stats(samples=True))["samples"]}
    hub = counter_delta(before, await hub_counters(target))
    expected = sent["sent"] * dashboards
    result = {
        "rate": rate,
        "duration_s": duration,
        **{k: v for k, v in sent.items() if k != "t_end"},
        "delivered": st["total"],
        "expected": expected,
        "delivered_share": round(st["total"] / expected, 4) if expected else 0.0,
        "min_per_dashboard": st["min"],
        "dashboards_live": st["live"],
        "dashboard_closes": st["closed"],
        "lag_s": round(st["last_rx"] - sent["t_end"], 4) if st["total"] else None,  # last send → last delivery
        "grace_s": grace,
        "latency_ms": percentiles(st["samples"]),
        "n_samples": len(st["samples"]),
        "sample_every": every,
        "hub_counters": hub,  # approximate per step: the hub folds them into /metrics once a second
        "cpu": cpu,
    }
    why = _why(result, rate, duration, n, dashboards)
    result.update(ok=not why, why="; ".join(why))
    if any(w.startswith(CLIENT_LIMITED) for w in why):
        result["cpu"]["client_bound"] = True  # whatever the CPU figures say (softirq time is nobody's)
    return result


def _why(step: dict[str, Any], rate: float, duration: float, n: int, dashboards: int) -> list[str]:
    why = []
    if step["error_frames"]:
        why.append(f"{step['error_frames']} error frames to drivers, e.g. {step['error_samples'][:1]}")
    if step["alive"] < n or step["closed"]:
        why.append(f"drivers closed {step['closed']}")
    if step["dashboards_live"] < dashboards or step["dashboard_closes"]:
        why.append(f"dashboards closed {step['dashboard_closes']}")
    if step["delivered_share"] < MIN_DELIVERED:
        why.append(f"dashboards got {100 * step['delivered_share']:.1f}% of pings")
    p99 = step["latency_ms"].get("p99")
    if p99 is None or p99 > P99_LIMIT_MS:
        why.append(f"p99 {fmt(p99, None)} ms > {P99_LIMIT_MS:g}")
    if step["lag_s"] is not None and step["lag_s"] > step["grace_s"]:
        why.append(f"lagging {step['lag_s']:.2f}s")
    if step["paused_sockets"] or step["write_buffered_bytes"]:
        why.append(f"server stopped reading ({step['paused_sockets']} driver sockets paused)")
    elif step["sent"] < MIN_SENT * rate * duration:
        why.append(f"{CLIENT_LIMITED} ({step['sent_per_s']:.0f}/s)")
    return why


def _line(step: dict[str, Any]) -> str:
    ms = step["latency_ms"]
    status = "ok" if step["ok"] else step["why"]
    return (
        f"sent {step['sent_per_s']:,.0f}/s, delivered {100 * step['delivered_share']:.1f}%, p50 "
        f"{fmt(ms['p50'], None)} p99 {fmt(ms['p99'], None)} ms, server CPU {step['cpu']['server_cpu_pct']}%, "
        f"client CPU {step['cpu']['client_cpu_total_pct']}%: {status}"
    )


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for r in result.get("sizes", ()):
        n, best, common = r["drivers"], r.get("max"), r.get("common") or {}
        out[f"ingest {n} drivers pings/s, p99 ≤ {P99_LIMIT_MS:g} ms"] = Metric(
            best["sent_per_s"] if best else None, "/s", True, r["client_bound"]
        )
        out[f"ingest {n} drivers p99 ms at max"] = Metric(
            (best or {}).get("latency_ms", {}).get("p99"), "ms", False, r["client_bound"]
        )
        rate = fmt(common.get("rate"))
        out[f"ingest {n} drivers p99 ms at {rate}/s"] = Metric(
            common.get("latency_ms", {}).get("p99"), "ms", False, bool(common.get("cpu", {}).get("client_bound"))
        )
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, res in results.items():
        if "error" in res:
            rows.append([name, "–", "error: " + res["error"][:60], *["–"] * 10])
            continue
        for r in res["sizes"]:
            best, common = r.get("max") or {}, r.get("common") or {}
            cpu = best.get("cpu") or {}
            rows.append(
                [
                    name, fmt(r["drivers"]), fmt(best.get("sent_per_s")), p50_p99(best.get("latency_ms")),
                    p50_p99(common.get("latency_ms")),
                    fmt(common.get("rate")), fmt(100 * best["delivered_share"], 1) if best else "–",
                    fmt(cpu.get("server_cpu_pct")), fmt(cpu.get("client_cpu_total_pct")),
                    "CLIENT-BOUND" if r["client_bound"] else "no", fmt(r["ceiling"]["pings_per_s"]),
                    fmt(bool(cpu.get("noisy"))), shorten(r["limited_by"], 60),
                ]
            )  # fmt: skip
    headers = [
        "target", "drivers", "max pings/s held", "p50/p99 ms at max", "p50/p99 ms, same load", "same load pings/s",
        "delivered % at max", "server CPU %", "client CPU %", "client-bound", "driver ceiling pings/s", "noisy",
        "next rate failed by",
    ]  # fmt: skip
    return render_table(headers, rows) + (
        f"\n\nThe hub ran with `HUB_GPS_PER_S={GPS_PER_S}` (default 5 per driver) and one `driver` account per "
        "simulated driver, added to its database copy: every driver logs in as itself, so positions are keyed by as "
        "many distinct drivers as there are sockets. Peers: any token; the socket's number is the driver id; they "
        "fan every ping out, no conflation."
    )
