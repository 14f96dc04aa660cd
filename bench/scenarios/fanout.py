"""Fan-out: S subscribers on one ``notice:`` topic, a manager socket publishing ticket-sized events.

Max: publish at a target rate for a few seconds; a step keeps up when every subscriber got
every event of the step (no loss, no duplicate, no close such as 4500), the last delivery
came within a short grace after the last publish, and the publisher was never held back.
Rates double from a low start until a step fails, then bisect. Latency: publish at half
the max; receivers decode one frame in N and compute ``now - data.t`` (the publisher's
``time.time()``).
"""

from __future__ import annotations

from typing import Any

from bench.measure import fmt, percentiles, render_table, shorten, wait_server_quiet
from bench.scenarios.base import Context, Metric, Profile, Setup
from bench.scenarios.fanout_shallow import WINDOW, shallow
from bench.targets import Target

__all__ = ["METHOD", "NAME", "headline", "run", "setup", "sizes", "table"]

NAME = "fanout"
METHOD = """
- Fan-out: a manager socket publishes ticket events (`data` ≈ 210 bytes; the event frame each server sends is
  in the "frame bytes" column) with `publish` (no `id`, no reply) at a set rate for a few seconds; the rate
  doubles until a step fails, then is bisected. A step passes when every subscriber got every event of the
  step (no loss, no duplicate, no close such as 4500), the last one within L + 0.05 s + 10% of the step after
  the last publish (L: how long one event took to reach every socket at a trickle, measured first), and the
  publisher was never held back by the server. Each step starts on a quiet server
  (CPU < 30%); after a failed one the backlog is drained before counting what is missing. "max deliveries/s"
  is the deliveries of the best passing step over the time from its first publish to its last delivery.
  Latency: at half that rate, one frame in N is decoded and `now - data.t` (publisher's `time.time()`)
  recorded; again at the same load for every target (5,000 deliveries/s, when under the target's max), which
  is the latency to compare between targets. Step-to-step noise is about ±15%; compare figures of one run.
  Shallow batches ("≤ 8 in flight"): the open-loop max lets hundreds of events queue per socket, which a
  server may cork into one write each; a closed-loop publisher then sends 8 events and 4 more each time every
  subscriber has all but 4, for the same few seconds, and reports deliveries/s and publish → receive latency.
"""  # its bullet in docs/benchmarks.md's Method section
MIN_EVENTS_PER_STEP = 3  # below this a step says nothing: stop halving
MAX_NOISY_RETRIES = 3  # a failed step during which other processes or the hypervisor took CPU is run again
MAX_BASE_LAG_S = 2.0  # a server slower than this to reach every socket with one event does not keep up anyway
# A server working off a backlog runs near 100%; below this it has none left (an idle socket.io server with
# thousands of sockets already uses 10-30% for its pings).
QUIET_PCT = 30.0
# ``data`` of every event, next to the send time: about the size of a small kitchen ticket.
FILLER: dict[str, Any] = {
    "ticket": {
        "id": 48213,
        "number": 57,
        "status": "new",
        "items": [{"item_id": 12, "name": "Cheeseburger", "qty": 2}, {"item_id": 31, "name": "Fries", "qty": 1}],
        "total_cents": 2450,
        "note": "no onions",
    }
}


def sizes(profile: Profile) -> tuple[int, ...]:
    return profile.fanout_sizes


def setup(profile: Profile) -> Setup:
    return Setup()  # every target, default settings


async def run(target: Target | None, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]:
    assert target is not None, "the runner starts this scenario's server"
    return {"target": target.name, "sizes": [await _one_size(target, s, ctx) for s in sizes]}


async def _connect(target: Target, s: int, ctx: Context) -> dict[str, Any]:
    await ctx.pool.close_all()
    opened = await ctx.pool.open_subscribers(target, s)
    if opened["failed"]:
        raise RuntimeError(f"{target.name}: {opened['failed']} of {s} subscribers failed: {opened['errors']}")
    await ctx.pool.open_publisher(target)
    return opened


async def _one_size(target: Target, s: int, ctx: Context) -> dict[str, Any]:
    profile = ctx.profile
    opened = await _connect(target, s, ctx)
    ctx.say(f"  {target.name} fanout S={s}: {s} subscribers in {opened['seconds']:.1f}s")
    # Warm-up at a trickle; its lag (last publish → last delivery) is how long one event takes to reach all S
    # sockets on an idle server. A step keeps up if its lag is not much more than that.
    for _ in range(profile.warmups):  # the first also warms the server up (allocations, first writes): the last counts
        warm = await _step(target, s, max(2.0, 500 / s), min(1.0, profile.step_s), ctx, every=0, base_lag=0.0)
    base_lag = min(MAX_BASE_LAG_S, max(0.0, warm["lag_s"] or 0.0))
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    fail_rate: float | None = None
    limiting: dict[str, Any] | None = None  # the lowest rate that did not keep up
    rate, bisections, retries = profile.start_deliveries / s, 0, 0
    for _ in range(profile.max_steps + MAX_NOISY_RETRIES):
        step = await _step(target, s, rate, profile.step_s, ctx, every=0, base_lag=base_lag)
        del step["samples"]
        steps.append(step)
        noisy = step["cpu"]["noisy"] and not step["ok"]
        status = "ok" if step["ok"] else step["why"]
        if noisy:
            status += f" (noisy: other processes {step['cpu']['other_cpu_pct']}%, steal {step['cpu']['steal_pct']}%)"
        ctx.say(f"    {rate:9.1f} ev/s -> {fmt(step['delivered_per_s'])} deliveries/s {status}")
        if step["live"] < s or not step["publisher_alive"]:
            await _connect(target, s, ctx)
        if noisy and retries < MAX_NOISY_RETRIES:
            retries += 1
            continue  # the same rate again: this failure may be the machine's
        if step["ok"]:
            best = step if best is None or step["rate"] > best["rate"] else best
        elif fail_rate is None or rate < fail_rate:
            fail_rate, limiting = rate, step
        if len(steps) - retries >= profile.max_steps:
            break
        if fail_rate is None:
            rate *= 2
        elif best is None:
            rate /= 2
            if rate * profile.step_s < MIN_EVENTS_PER_STEP:
                break
        elif bisections < profile.bisections:
            rate, bisections = (best["rate"] + fail_rate) / 2, bisections + 1
        else:
            break
    result: dict[str, Any] = {"subscribers": s, "steps": steps, "max": best, "lowest_failing_rate": fail_rate}
    result["idle_fanout_s"] = round(base_lag, 4)
    result["limited_by"] = limiting["why"] if limiting else "not reached"
    result["client_bound"] = bool(
        (best and best["cpu"]["client_bound"]) or (limiting and limiting["cpu"]["client_bound"])
    )
    if best is not None:
        result["latency"] = await _latency(target, s, best["rate"] / 2, ctx, base_lag)
        result["event_frame_bytes"] = result["latency"]["frame_bytes"]
        common = profile.common_deliveries / s  # the same load for every target: latencies comparable
        if common <= best["rate"]:
            result["latency_common"] = await _latency(target, s, common, ctx, base_lag)
    await _connect(target, s, ctx)  # whatever the search left closed or behind
    result["shallow"] = low = await shallow(target, s, FILLER, ctx, quiet_pct=QUIET_PCT)
    ctx.say(
        f"    ≤ {WINDOW} in flight: {fmt(low['delivered_per_s'])} deliveries/s, {low['latency_ms']} "
        f"({low['why'] or 'ok'})"
    )
    await ctx.pool.close_all()
    return result


async def _latency(target: Target, s: int, rate: float, ctx: Context, base_lag: float) -> dict[str, Any]:
    """A step at ``rate`` decoding one frame in N: publish→receive percentiles."""
    profile = ctx.profile
    every = max(1, int(rate * s * profile.latency_s / profile.latency_samples))
    for _ in range(2):  # once more if the machine was busy with something else meanwhile
        lat = await _step(target, s, rate, profile.latency_s, ctx, every=every, base_lag=base_lag)
        if not lat["cpu"]["noisy"]:
            break
    samples = lat.pop("samples")
    lat["latency_ms"] = percentiles(samples)
    lat["n_samples"], lat["sample_every"] = len(samples), every
    ctx.say(f"    latency at {rate:.1f} ev/s: {lat['latency_ms']} ({len(samples)} samples, {lat['why'] or 'ok'})")
    return lat


async def _step(
    target: Target, s: int, rate: float, duration: float, ctx: Context, *, every: int, base_lag: float
) -> dict[str, Any]:
    """Publish at ``rate`` for ``duration`` and check every subscriber got every event in time: within
    ``base_lag`` (one event's fan-out on an idle server) + 0.05 s + 10% of the step after the last publish."""
    pool = ctx.pool
    await wait_server_quiet(target.pid, below_pct=QUIET_PCT, timeout=30.0)  # nothing left of the previous step
    await pool.reset(every)
    meter = ctx.meter(target)
    pub = await pool.publish(target, rate, duration, FILLER)
    sent, t0, t1, t_last = pub["sent"], pub["t0"], pub["t1"], pub["t_last"]
    grace = base_lag + 0.05 + 0.1 * duration
    st = await pool.wait(sent, timeout=max(2.0, duration), samples=every > 0)
    cpu = meter.stop()
    lag = st["last_rx"] - t_last if st["total"] else None  # last publish → its last delivery
    if st["min"] < sent or st["live"] < s:  # not all there yet: let the backlog drain, then count what is missing
        late = await _drain(target, ctx)
        for key in ("total", "min", "max", "live", "closed", "last_rx"):
            st[key] = late[key]
        lag = st["last_rx"] - t_last if st["total"] else None
    expected = sent * s
    why = []
    if st["closed"]:
        why.append(f"closed {st['closed']}")
    if st["live"] < s:
        why.append(f"{s - st['live']} subscribers gone")
    if st["total"] < expected:
        why.append(f"lost {expected - st['total']} of {expected}")
    if st["max"] > sent:
        why.append("duplicates")
    if lag is not None and lag > grace:
        why.append(f"lagging {lag:.2f}s")
    if sent < 0.95 * rate * duration or pub["stalls"]:
        why.append(f"publisher held back ({sent / max(1e-9, t1 - t0):.0f} ev/s, {pub['stalls']} stalls)")
    span = max(t1, st["last_rx"]) - t0
    return {
        "rate": round(rate, 2),
        "duration_s": duration,
        "published": sent,
        "delivered": st["total"],
        "expected": expected,
        "lost": max(0, expected - st["total"]),
        "delivered_per_s": round(st["total"] / span, 1) if span > 0 else 0.0,
        "lag_s": None if lag is None else round(lag, 4),
        "grace_s": round(grace, 4),
        "live": st["live"],
        "publisher_alive": pub["alive"],
        "closed": st["closed"],
        "cpu": cpu,
        "ok": not why,
        "why": "; ".join(why),
        "samples": st["samples"],
        "frame_bytes": st["frame_bytes"],  # payload size of a decoded (sampled) event frame; 0 without sampling
    }


async def _drain(target: Target, ctx: Context) -> dict[str, Any]:
    """After an overloaded step, until the server has no backlog left (its CPU idle) and no frame arrives,
    so what is still missing is lost, and nothing of this step leaks into the next one."""
    await ctx.pool.settle(quiet=0.5, timeout=30.0)
    await wait_server_quiet(target.pid, below_pct=QUIET_PCT, timeout=90.0)
    return await ctx.pool.settle(quiet=0.5, timeout=30.0)


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for r in result.get("sizes", ()):
        s, best, lat = r["subscribers"], r.get("max"), r.get("latency") or {}
        value = best["delivered_per_s"] if best else None
        out[f"fanout S={s} deliveries/s"] = Metric(value, "/s", True, r["client_bound"])
        low = r.get("shallow") or {}
        low_bound = bool(low.get("cpu", {}).get("client_bound"))
        low_value = low.get("delivered_per_s") if low.get("ok") else None
        out[f"fanout S={s} deliveries/s, ≤ {WINDOW} in flight"] = Metric(low_value, "/s", True, low_bound)
        for key, run in (("half of own max", lat), ("same load", r.get("latency_common") or {})):
            p99 = (run.get("latency_ms") or {}).get("p99")
            out[f"fanout S={s} p99 ms, {key}"] = Metric(p99, "ms", False, bool(run.get("cpu", {}).get("client_bound")))
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, res in results.items():
        if "error" in res:
            rows.append([name, "–", "error: " + res["error"][:60], *["–"] * 13])
            continue
        for r in res["sizes"]:
            best, lat, same = r.get("max") or {}, r.get("latency") or {}, r.get("latency_common") or {}
            cpu = best.get("cpu") or {}
            low = r.get("shallow") or {}
            lost = sum(st["lost"] for st in (best, lat, same, low) if st)
            rows.append(
                [
                    name, fmt(r["subscribers"]), fmt(best.get("delivered_per_s")), fmt(best.get("rate"), 1),
                    _ms(lat), _ms(same), _shallow(low), _ms(low), fmt(r.get("idle_fanout_s", 0) * 1000, None),
                    fmt(lost),
                    fmt(cpu.get("server_cpu_pct")), fmt(cpu.get("client_cpu_total_pct")), _bound(r),
                    fmt(r.get("event_frame_bytes")), _noisy(r), shorten(r.get("limited_by", ""), 48),
                ]
            )  # fmt: skip
    headers = [
        "target", "subscribers", "max deliveries/s", "events/s", "p50/p99/p99.9 ms at half max",
        "p50/p99/p99.9 ms, same load", f"deliveries/s, ≤ {WINDOW} in flight", f"p50/p99/p99.9 ms, ≤ {WINDOW} in flight",
        "one event to all, idle ms", "lost", "server CPU %", "client CPU %",
        "client-bound", "frame bytes", "noisy", "next rate failed by",
    ]  # fmt: skip
    return render_table(headers, rows)


def _ms(run: dict[str, Any]) -> str:
    ms = run.get("latency_ms") or {}
    return " / ".join(fmt(ms.get(k), None) for k in ("p50", "p99", "p99.9")) if ms else "–"


def _shallow(low: dict[str, Any]) -> str:
    if not low:
        return "–"
    return fmt(low.get("delivered_per_s")) + ("" if low.get("ok") else f" ({shorten(low.get('why', ''), 32)})")


def _bound(r: dict[str, Any]) -> str:
    """Which figures of a size may be the client's limit: the max search, a latency run."""
    which = ["max"] if r["client_bound"] else []
    labels = (("latency", "half-max latency"), ("latency_common", "same-load latency"), ("shallow", "shallow"))
    for key, label in labels:
        which += [label] if (r.get(key) or {}).get("cpu", {}).get("client_bound") else []
    return "CLIENT-BOUND: " + " + ".join(which) if which else "no"


def _noisy(r: dict[str, Any]) -> str:
    """Which reported figures were measured while other processes or the hypervisor took CPU."""
    keys = ("max", "latency", "latency_common", "shallow")
    which = [k for k in keys if (r.get(k) or {}).get("cpu", {}).get("noisy")]
    return ", ".join(which) or "no"
