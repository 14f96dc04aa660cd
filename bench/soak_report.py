"""The soak's verdict and its page, docs/soak.md (no measuring here).

RSS is flat when each hub process grew, from the first row at or after the warm-up (5 minutes, or a third of a
shorter soak) to the last row of the load, by at most 5 % of what it had then or 10 MiB, whichever is larger:
the warm-up is when caches, pools and the allocator's arenas fill; after it, a leak grows with the traffic and
shows up as a steady rise, which the least-squares slope over the same rows (MiB per minute) makes visible too.
"""

from __future__ import annotations

from typing import Any

from bench.measure import fmt, render_table

__all__ = ["GROWTH_MIB", "GROWTH_PCT", "judge_rss", "render", "verdict"]

GROWTH_PCT = 5.0
GROWTH_MIB = 10.0


def judge_rss(samples: list[tuple[float, int]], warmup_s: float) -> dict[str, Any]:
    """``samples``: (seconds into the soak, RSS KiB) of one process during the load."""
    after = [s for s in samples if s[0] >= warmup_s] or samples[-1:]
    (t_base, base), (t_end, end) = after[0], after[-1]
    growth = (end - base) / 1024
    limit = max(GROWTH_MIB, GROWTH_PCT / 100 * base / 1024)
    return {
        "baseline_s": t_base, "baseline_mib": round(base / 1024, 1), "end_s": t_end, "end_mib": round(end / 1024, 1),
        "peak_mib": round(max(r for _, r in after) / 1024, 1), "growth_mib": round(growth, 1),
        "growth_pct": round(100 * growth * 1024 / base, 1) if base else None, "limit_mib": round(limit, 1),
        "slope_mib_per_min": _slope(after), "ok": growth <= limit,
    }  # fmt: skip


def _slope(samples: list[tuple[float, int]]) -> float | None:
    if len(samples) < 2:
        return None
    n = len(samples)
    mt, mr = sum(t for t, _ in samples) / n, sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return round(sum((t - mt) * (r - mr) for t, r in samples) / var * 60 / 1024, 3)


def _client_errors(rows: list[dict[str, Any]], after: dict[str, Any]) -> dict[str, int]:
    return {
        "tablets": int((after["orders"] or {}).get("tablet_error_frames", 0)),
        "drivers": sum(int(r["pings"]["error_frames"]) for r in rows if r["pings"]),
        "dashboards (1 frame in 10 decoded)": sum(int(r["dashboards"]["non_position_frames"]) for r in rows),
    }


def _disconnects(row: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """Client sockets gone by close code (``no close frame`` when one died without), and the hubs' count."""
    o, pings, dash = row["orders"] or {}, row["pings"] or {}, row["dashboards"]
    by_code: dict[str, int] = {}
    for closes in (o.get("tablet_closes", {}), pings.get("closed", {}), dash["closed"]):
        for code, n in closes.items():
            by_code[code] = by_code.get(code, 0) + int(n)
    gone = (
        (
            opts["shifts"] * opts["tablets_per_shift"]
            - o.get("tablets_alive", opts["shifts"] * opts["tablets_per_shift"])
        )
        + (opts["drivers"] - pings.get("alive", opts["drivers"]))
        + (opts["dashboards"] - dash["live"])
    )
    if gone > sum(by_code.values()):
        by_code["no close frame"] = gone - sum(by_code.values())
    return {"clients": by_code, "hub": {k: int(v) for k, v in row["hub_disconnects"].items()}}


def verdict(record: dict[str, Any]) -> dict[str, Any]:
    """Every check with its figures; ``ok`` when all passed."""
    opts, rows, after = record["options"], record["rows"], record["after"]
    load_rows = [r for r in rows if r["elapsed_s"] > 0]
    warmup_s = min(60 * opts["warmup_minutes"], 60 * opts["minutes"] / 3)
    checks, rss = [], []
    for j, hub in enumerate(rows[0]["hubs"]):
        judged = judge_rss([(r["elapsed_s"], r["hubs"][j]["rss_kib"]) for r in load_rows], warmup_s)
        rss.append({"node": hub["node"], "start_mib": round(hub["rss_kib"] / 1024, 1), **judged})
        checks.append({"name": f"RSS flat, {hub['node']}", "ok": judged["ok"], "detail": (
            f"{judged['baseline_mib']} MiB at {judged['baseline_s'] / 60:.1f} min → {judged['end_mib']} MiB at "
            f"{judged['end_s'] / 60:.1f} min: {judged['growth_mib']:+.1f} MiB (limit {judged['limit_mib']} MiB), "
            f"slope {fmt(judged['slope_mib_per_min'], None)} MiB/min")})  # fmt: skip
    final = after["orders"]
    checks.append({"name": "no lost ticket", "ok": final["lost"] == 0, "detail": (
        f"{fmt(final['acknowledged'])} orders acknowledged, {fmt(final['receipts'])} of "
        f"{fmt(final['expected_receipts'])} tablet receipts; lost {final['lost']} ({final['lost_orders']} orders) "
        f"{final['lost_examples'] or ''}")})  # fmt: skip
    checks.append({"name": "no duplicate or stray ticket", "ok": not (final["duplicates"] or final["strays"]),
                   "detail": f"duplicates {final['duplicates']}, strays {final['strays']}"})  # fmt: skip
    checks.append(
        {
            "name": "every order acknowledged",
            "ok": final["n_errors"] == 0,
            "detail": f"{fmt(final['sent'])} sent, errors {final['errors'] or 0} {final['error_examples']}",
        }
    )
    errors, hub_errors = _client_errors(load_rows, after), {k: int(v) for k, v in after["hub_errors"].items()}
    checks.append({"name": "no error frame", "ok": not (sum(errors.values()) or hub_errors),
                   "detail": f"received by clients {errors}; sent by the hubs {hub_errors or 0}"})  # fmt: skip
    gone = _disconnects(after, opts)
    checks.append(
        {
            "name": "no disconnect",
            "ok": not (gone["clients"] or gone["hub"]),
            "detail": f"client sockets closed {gone['clients'] or 0}; hubs counted {gone['hub'] or 0}",
        }
    )
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "rss": rss, "warmup_s": warmup_s}


def _minute_rows(record: dict[str, Any]) -> list[list[str]]:
    opts, out = record["options"], []
    errors_so_far = 0
    for r in [*record["rows"], record["after"]]:
        o, cpu, pings, dash = r["orders"], r["cpu"], r["pings"], r["dashboards"]
        after = r is record["after"]
        errors_so_far += int((pings or {}).get("error_frames", 0)) + int(dash["non_position_frames"])
        client_errors = errors_so_far + int((o or {}).get("tablet_error_frames", 0))
        gone = _disconnects(r, opts)
        out.append([
            "after grace" if after else f"{int(r['elapsed_s'] // 60)}:{int(r['elapsed_s'] % 60):02d}",
            " + ".join(f"{h['rss_kib'] / 1024:.1f}" for h in r["hubs"]),
            " + ".join(fmt(h["connections"]) for h in r["hubs"]),
            " + ".join(fmt(c) for c in cpu["hub_cpu_pct"]),
            f"{fmt(cpu['machine_busy_pct'])} ({fmt(cpu['other_cpu_pct'])})" if cpu["seconds"] >= 1 else "–",
            fmt(r["loadavg_1m"], 2),
            fmt(o["acknowledged"]) if o else "–",
            fmt(o["sent"] - o["answered"]) if o else "–",
            f"{fmt(o['rest_ms'].get('p50'), None)} / {fmt(o['rest_ms'].get('p99'), None)}" if o else "–",
            f"{fmt(o['receipts'])} / {fmt(o['expected_receipts'])}" if o else "–",
            (fmt(o["lost"]) if after else f"{fmt(o['overdue'])} overdue") if o else "–",
            fmt(o["duplicates"] + o["strays"]) if o else "–", fmt(o["n_errors"]) if o else "–",
            f"{client_errors} / {sum(int(v) for v in r['hub_errors'].values())}",
            f"{_codes(gone['clients'])} / {_codes(gone['hub'])}",
            f"{fmt(o['tablet_ms'].get('p50'), None)} / {fmt(o['tablet_ms'].get('p99'), None)}" if o else "–",
            fmt(pings["sent_per_s"]) if pings else "–",
            fmt(100 * dash["got_share"], 1) if dash["got_share"] is not None else "–",
        ])  # fmt: skip
    return out


def _codes(by_code: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(by_code.items())) or "0"


def render(record: dict[str, Any], command: str) -> str:
    """docs/soak.md."""
    m, opts, v = record["machine"], record["options"], record["verdict"]
    tablets = opts["shifts"] * opts["tablets_per_shift"]
    ls, le = record["load_start"], record["load_end"]
    minute_headers = [
        "min:s", "hub RSS MiB", "hub connections", "hub CPU %", f"machine CPU % of {m['cores'] * 100} (others)",
        "load 1 min", "orders acknowledged", "orders in flight", "REST p50/p99 ms (window)",
        "tablet receipts / expected", "receipts overdue > 5 s / lost",
        "duplicate + stray", "order errors", "error frames clients / hubs", "disconnects clients / hubs",
        "order → tablet p50/p99 ms (window)", "pings/s", "dashboards got %",
    ]  # fmt: skip
    rss_rows = [[r["node"], fmt(r["start_mib"], 1), f"{fmt(r['baseline_mib'], 1)} ({r['baseline_s'] / 60:.1f} min)",
                 f"{fmt(r['end_mib'], 1)} ({r['end_s'] / 60:.1f} min)", fmt(r["peak_mib"], 1),
                 f"{r['growth_mib']:+.1f} ({fmt(r['growth_pct'], 1)} %)", fmt(r["limit_mib"], 1),
                 fmt(r["slope_mib_per_min"], None), "flat" if r["ok"] else "GROWING"] for r in v["rss"]]  # fmt: skip
    lines = [
        "# Soak",
        "",
        f"Generated by {command} on {m['date']}. Do not edit by hand: `make soak` (30 minutes; e.g. `make soak "
        'SOAK_ARGS="--minutes 5"` for a shorter one) rewrites this file; the JSON record of every row goes to '
        "`bench/results/` (not committed).",
        "",
        f"## Verdict: {'PASS' if v['ok'] else 'FAIL'}",
        "",
        *[f"- **{'PASS' if c['ok'] else 'FAIL'}** {c['name']}: {c['detail']}" for c in v["checks"]],
        "",
        "## What ran",
        "",
        f"- The city of `make bench` (bench/scenarios/city.py) on {opts['nodes']} hub process(es)"
        f"{', sharing Redis as their broker' if opts['nodes'] > 1 else ''} and one PostgreSQL database: "
        f"{fmt(tablets)} KDS tablets ({opts['tablets_per_shift']} per shift on {fmt(opts['shifts'])} shifts, each "
        f"shift's tablets spread over the nodes), {fmt(opts['drivers'])} drivers sending `gps` every "
        f"{opts['ping_interval_s']:g} s ({fmt(record['ping_rate'])} pings/s), {opts['dashboards']} `gps:fleet` "
        f"dashboards, every client kind split over the nodes.",
        f"- Orders: {fmt(record['order_rate'], 1)}/s over REST (`POST /api/shifts/{{id}}/orders`, open-loop, "
        f"through every node in turn) for {opts['minutes']:g} min, {fmt(record['orders_planned'])} in all: "
        f"half the city's capacity, {record['capacity']['source']}.",
        _achieved(record),
        "- Setup: " + ", ".join(f"{k} {v} s" for k, v in record["setup_s"].items()) + "; the soak starts after it.",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python "
        f"{m['python']}, commit {m['commit']}{' (hub/app modified)' if m['hub_app_modified'] else ''}; shared with "
        f"other work: load average {_load(ls)} at the start ({ls['at']}), {_load(le)} at the end ({le['at']}) "
        f"(1, 5, 15 min). Every process (hubs, PostgreSQL, Redis, the three client processes) shares the cores.",
        "",
        "## Every minute",
        "",
        "Totals since the soak began, except CPU %, load and latencies (over the row's window). Minute 0 is before "
        "the first order; the last row is after the last answer and the grace. Latencies run from each order's "
        'scheduled send time, so orders queued behind a busy machine count their wait ("in flight": sent, not '
        "answered yet); they are shown, not judged.",
        "",
        render_table(minute_headers, _minute_rows(record)),
        "",
        "## RSS per hub process",
        "",
        render_table(
            [
                "node",
                "minute 0 MiB",
                "baseline MiB",
                "end MiB",
                "peak after baseline MiB",
                "growth MiB",
                "limit MiB",
                "slope MiB/min",
                "verdict",
            ],
            rss_rows,
        ),  # fmt: skip
        "",
        "## Method",
        "",
        METHOD.strip(),
        "",
    ]
    return "\n".join(lines)


def _achieved(record: dict[str, Any]) -> str:
    """What the machine let through: acknowledged orders/s over the load, the backlog, the others' CPU."""
    rows = [r for r in record["rows"] if r["orders"] is not None]
    if not rows:
        return "- Achieved: no row during the load."
    last, after = rows[-1], record["after"]
    rate = last["orders"]["acknowledged"] / max(1e-9, last["elapsed_s"])
    others = [r["cpu"]["other_cpu_pct"] for r in rows]
    busy = [r["cpu"]["machine_busy_pct"] for r in rows]
    in_flight = max(r["orders"]["sent"] - r["orders"]["answered"] for r in rows)
    return (
        f"- Achieved: {fmt(rate, 1)} orders/s acknowledged over the load (offered {fmt(record['order_rate'], 1)}/s); "
        f"at most {fmt(in_flight)} orders in flight (sent or queued in the POS, 16 keep-alive connections per hub); "
        f"the account was settled {fmt(after['elapsed_s'] - last['elapsed_s'])} s after the last order was due. "
        f"The machine was {fmt(sum(busy) / len(busy))} % busy of {record['machine']['cores'] * 100} on average, "
        f"{fmt(sum(others) / len(others))} % of it other processes (not this soak's)."
    )


def _load(load: dict[str, Any]) -> str:
    return ", ".join(f"{x:.2f}" for x in load["loadavg"])


METHOD = f"""
- RSS: VmRSS of each hub process from /proc/PID/status. Flat: from the first row at or after the warm-up
  (5 minutes, or a third of a shorter soak) to the last row of the load, growth ≤ {GROWTH_PCT:g} % of the
  baseline or ≤ {GROWTH_MIB:g} MiB, whichever is larger; the least-squares slope over the same rows is shown.
  Connections: `hub_connections` on each hub's /metrics.
- Tickets: every order carries a tag (`customer_name` `soak-{{i}}`); it is acknowledged when its 201 carries its
  own ticket. Each tablet (bench/soakload.py) records every `ticket.created`; a ticket acknowledged but not
  received by every tablet of its shift 10 s after the last answer is lost (after the last order, answers are
  waited for as long as one comes every 30 s, 4 minutes at most: on a busy machine orders queue up); a tablet
  getting one twice is a duplicate; one of another shift or unknown is a stray. "Overdue": receipts still missing
  5 s after the 201.
- Error frames: every frame a driver gets (a `gps` without `id` gets no answer), every `error` frame a tablet
  gets, every non-position frame among the dashboards' decoded ones (1 in 10); and the hubs' `hub_errors_total`,
  which counts every error frame sent to anyone.
- Disconnects: client sockets closed (by close code; "no close frame" when the connection dropped) and the hubs'
  `hub_disconnects_total` by code and side, since the soak began (the last row is before the clients close).
- CPU: each hub's, and the machine's busy share with what other processes took ("others": not the hubs, their
  database's PostgreSQL backends, Redis or the soak's clients), from /proc (bench/nodemeter.py).
"""
