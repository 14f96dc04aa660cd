"""The storm scenario's table, headline figures, progress line and method bullet."""

from __future__ import annotations

from typing import Any

from bench.measure import fmt, render_table
from bench.scenarios.base import Metric

__all__ = ["METHOD", "TARGETS", "headline", "line", "table"]

TARGETS = {"all_back_s": 10.0, "hello_p99_ms": 1000.0, "hellos_per_s": 3000.0}

METHOD = """
- Storm (hub only): a node on SQLite with the in-process broker (the default deployment) gets N KDS tablets: N / 20
  trucks, each with one open shift holding 5 tickets and 20 tablets on its `kds:{shift}` (a food hall's kitchen line),
  four tablets per staff account and each with its own session (rows written into the node's database before it first
  starts; tokens signed by the bench with the node's key). The node is stopped with SIGTERM (its drain closes every
  socket) and started again on the same database and port: nothing is warm (no session confirmed, no device known, no
  snapshot cached, a new stream epoch). As soon as it answers `/readyz`, every tablet comes back at once from one
  client process (bench/stormload.py): connect, hello with its device, subscribe with `since` its last position, and,
  since the epoch changed (`recovered: false`), `GET /api/shifts/{id}/kds` (32 keep-alive connections shared by the
  tablets). A refused tablet (connection refused, its upgrade answered 503 or its hello closed 1013 by admission
  control when no hello slot came free within `HUB_HELLO_QUEUE_S`, any reconnect code) waits the Python client's
  full-jitter delay (`hub_client.reconnect.Backoff`: uniform in [0, 0.5 s · 2^attempt]) and tries again. All back: the
  last tablet subscribed with its snapshot refetched, from the storm's start. Hello → welcome: of each tablet's
  attempt that got in. Hellos/s: welcomed hellos over the time from the first hello sent to the last welcome received.
  Connects dropped: the kernel's `ListenOverflows` (TcpExt, /proc/net/netstat) during the storm, connections that
  found the node's accept queue full (`HUB_LISTEN_BACKLOG`) and came back only after a TCP retransmit.
  Then the node is restarted once more and the tablets only come back and resubscribe, no snapshot refetched
  ("resubscribing only": the hub's part of a storm alone, as the issue defines it; a real tablet refetches).
  Targets: all back within 10 s, hello → welcome p99 ≤ 1 s, ≥ 3,000 hellos/s on one core.
"""  # its bullet in docs/benchmarks.md's Method section


def line(r: dict[str, Any]) -> str:
    s = r["storm"]
    h = s["hello_to_welcome_ms"]
    return (
        f"{_variant(r)}: ready {r['ready_s']} s after the restart; {s['back']}/{s['tablets']} back, "
        f"all by {fmt(s['all_back_s'], None)} s; "
        f"hello→welcome p50/p99/max {fmt(h['p50'], None)} / {fmt(h['p99'], None)} / {fmt(h['max'], None)} ms; "
        f"{fmt(s['welcomed_per_s'])} hellos/s; refusals {s['refusals']}; "
        f"listen overflows {fmt(s.get('listen_overflows'))}; server CPU {r['cpu']['server_cpu_pct']}%; "
        f"{r['verdict']}"
    )


def _variant(r: dict[str, Any]) -> str:
    return "refetching snapshots" if r.get("refetch", True) else "resubscribing only"


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for r in result.get("sizes", ()):
        n, s = r["tablets"], r["storm"]
        only = "" if r.get("refetch", True) else ", resubscribing only"
        out[f"storm N={n}{only} all back s"] = Metric(s["all_back_s"], "s", False)
        out[f"storm N={n}{only} hello p99"] = Metric(s["hello_to_welcome_ms"]["p99"], "ms", False)
        out[f"storm N={n}{only} hellos/s"] = Metric(s["welcomed_per_s"], "/s", True)
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, res in results.items():
        if "error" in res:
            rows.append([name, "error: " + res["error"][:80], *["–"] * 15])
            continue
        for r in res["sizes"]:
            s = r["storm"]
            h, c, snap = s["hello_to_welcome_ms"], s["connect_to_subscribed_ms"], s["snapshot_ms"]
            refused = ", ".join(f"{k}: {fmt(v)}" for k, v in sorted(s["refusals"].items())) or "none"
            rows.append(
                [
                    name, fmt(r["tablets"]), _variant(r), fmt(r["stop_s"], None), fmt(r["ready_s"], None),
                    f"{fmt(s['back'])} / {fmt(s['tablets'])}", fmt(s["half_back_s"], None), fmt(s["all_back_s"], None),
                    " / ".join(fmt(h[k], None) for k in ("p50", "p99", "max")),
                    " / ".join(fmt(c[k], None) for k in ("p50", "p99")),
                    f"{fmt(s['snapshots'])}: " + " / ".join(fmt(snap[k], None) for k in ("p50", "p99")),
                    fmt(s["welcomed_per_s"]), refused, fmt(s.get("listen_overflows")),
                    fmt(r["cpu"]["server_cpu_pct"]),
                    fmt(r["cpu"]["other_cpu_pct"]), r["verdict"],
                ]
            )  # fmt: skip
    headers = [
        "target", "tablets", "after subscribing", "stop s", "restart → ready s", "back", "half back s", "all back s",
        "hello → welcome p50 / p99 / max ms", "connect → subscribed p50 / p99 ms", "snapshots: p50 / p99 ms",
        "hellos/s", "refused attempts", "connects dropped (listen overflows)", "server CPU %", "other load %",
        "verdict",
    ]  # fmt: skip
    return render_table(headers, rows)
