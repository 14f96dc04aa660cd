"""How the logins scenario reads: its Method bullet, its table, its one-line progress and its headline figures."""

from __future__ import annotations

from typing import Any

from bench.measure import fmt, render_table
from bench.scenarios.base import Metric

__all__ = ["METHOD", "STATUSES", "TARGET_P99_MS", "headline", "line", "table"]

TARGET_P99_MS = 5.0  # the tablet's ping p99 during a burst of logins must stay at or below this
STATUSES = ("200", "401", "429", "503")

METHOD = """
- Logins (hub only): the hub's database copy gets 200 `staff` users (`bench-login-1`…) sharing one hash made with the
  hub's default argon2id parameters (`Settings.from_env({})`: m=19456 KiB, t=2, p=1, as production), and the hub runs
  with its default hashing pool (`HUB_HASH_WORKERS` = half the CPUs the process may use, at nice 19, queue 64, 5 s
  wait → 503) and throttle limits; `HUB_TRUSTED_PROXIES` keeps its default (127.0.0.1), so the bench's
  `X-Forwarded-For` is believed. One client process holds a tablet socket (the chef's token) that sends
  `{"type":"ping"}` every 10 ms open-loop and times each pong from the ping's actual send time; the pong's
  `server_time` (the hub's clock when it handled the ping; same machine, same clock) gives the hub's part. Another
  client process sends the bursts: N logins at once, each on its own keep-alive connection opened beforehand, 60 %
  with the right password (200 expected; 503 allowed: the hashing queue was full) and 40 % with a wrong one (401
  expected); every login of the run has the next user (rotating over the 200) and its own `X-Forwarded-For` address
  (10.0.0.1, 10.0.0.2, …), so no throttle counter fills (a 429 would be a finding). A burst's pings are those sent
  between its first request and its last answer; login latency is from the burst's start to each answer. At rest: the
  pings of a few seconds before the first burst. Before each burst the hub's CPU drops below 10 % over 200 ms, then
  0.5 s of rest; a burst (and the rest window) during which other processes took ≥ 10 % of a core is run again (twice
  at most; the table says how often) and the attempt with the least other load counts; the table's other load % is of
  those. Two placements, each a fresh hub: pinned to the server CPU like every other scenario, then allowed on every
  CPU of the bench (the client processes' CPU too). Hub CPU % is of one core (up to 200 % with two CPUs).
"""  # its bullet in docs/benchmarks.md's Method section


def _ms(ms: dict[str, Any], keys: tuple[str, ...] = ("p50", "p99", "max")) -> str:
    return " / ".join(fmt(ms.get(k), None) for k in keys)


def _statuses(statuses: dict[str, int]) -> str:
    other = sum(v for k, v in statuses.items() if k not in STATUSES)
    return " / ".join(str(statuses.get(k, 0)) for k in STATUSES) + f" / {other}"


def line(part: dict[str, Any]) -> str:
    """One progress line: at rest, or one burst size of a placement."""
    loop = part["cpu"]["loop"]
    text = (
        f"{part['sent']} pings, round trip p50/p99/max {_ms(part['rtt_ms'])} ms, hub part {_ms(part['hub_ms'])} ms, "
        f"unanswered {part['unanswered']}, hub CPU {part['cpu']['server_cpu_pct']}%, loop waited for a CPU "
        f"{fmt(loop['wait_ms'], None)} ms ({fmt(loop['wait_us_per_run'])} µs per wake-up), other load "
        f"{part['cpu']['other_cpu_pct']}%"
    )
    if "statuses" in part:
        text += (
            f"; logins p50/p99 {_ms(part['login_ms'], ('p50', 'p99'))} ms, 200/401/429/503/other "
            f"{_statuses(part['statuses'])}, retried {part['retries']}"
        )
    return text


def table(results: dict[str, dict[str, Any]]) -> str:
    res = results.get("hub")
    if res is None:
        return "Not run (hub only)."
    if "error" in res:
        return f"error: {res['error']}"
    rows = []
    for place in res["placements"]:
        for part in (place["rest"], *place["sizes"]):
            burst = "n" in part
            rows.append(
                [
                    f"hub on {place['label']}", f"{part['n']} × {len(part['bursts'])}" if burst else "at rest",
                    fmt(part["sent"]), _ms(part["rtt_ms"]), _ms(part["hub_ms"]),
                    _ms(part["login_ms"], ("p50", "p99")) if burst else "–",
                    _statuses(part["statuses"]) if burst else "–", fmt(part["unanswered"]),
                    fmt(part["cpu"]["server_cpu_pct"]), _wait(part["cpu"]["loop"]), fmt(part["cpu"]["other_cpu_pct"]),
                    fmt(part["retries"]), _verdict(part) if burst else "–",
                ]
            )  # fmt: skip
    headers = [
        "placement", "logins × bursts", "pings", "ping round trip p50 / p99 / max ms", "hub part p50 / p99 / max ms",
        "login p50 / p99 ms", "200 / 401 / 429 / 503 / other", "unanswered pings", "hub CPU %",
        "loop waited for a CPU ms (µs per wake-up)", "other load %", "noisy runs redone",
        f"ping p99 ≤ {TARGET_P99_MS:g} ms",
    ]  # fmt: skip
    note = (
        f"argon2id {res['argon2']} (the hub's defaults), one verification {fmt(res['verify_cpu_ms'], None)} ms of CPU "
        f"on this machine; hashing threads {res['hash_threads']} in the bench process (half the CPUs a process may "
        "use, at least one: one in both placements on a 2-CPU machine), at the lowest CPU priority (nice 19), queue "
        f"{res['hash_queue']}, {fmt(res['hash_wait_s'], None)} s wait before a 503. A ping every "
        f"{fmt(res['ping_interval_ms'], None)} ms; the hub part is the pong's `server_time` minus the ping's send "
        "time; with fewer than 100 pings the p99 is the slowest. The loop's wait is the time the hub's event-loop "
        "thread was runnable but not running (/proc schedstat): scheduling, not the loop's own work."
    )
    return render_table(headers, rows) + "\n\n" + note


def _wait(loop: dict[str, Any]) -> str:
    return f"{fmt(loop['wait_ms'], None)} ({fmt(loop['wait_us_per_run'])})"


def _verdict(part: dict[str, Any]) -> str:
    p99 = part["rtt_ms"].get("p99")
    if p99 is None:
        return "no pings"
    return "met" if p99 <= TARGET_P99_MS else "MISSED"


def headline(result: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for place in result.get("placements", []):
        biggest = place["sizes"][-1] if place["sizes"] else None
        out[f"logins ping p99 ms at rest, hub on {place['label']}"] = Metric(
            place["rest"]["rtt_ms"].get("p99"), "ms", False
        )
        if biggest is not None:
            out[f"logins ping p99 ms during {biggest['n']} logins, hub on {place['label']}"] = Metric(
                biggest["rtt_ms"].get("p99"), "ms", False
            )
    return out
