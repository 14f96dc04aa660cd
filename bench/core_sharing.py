"""Whether the server's CPU and the clients' CPUs are one physical core (SMT siblings), measured.

A virtual machine may show two "cores" that the host runs as two hardware threads of one core, and
its topology files need not say so. Then the load generator on the client CPU takes execution units
from the server, and every "per core" figure of the server understates it. The check: time a fixed
Python loop pinned to the server CPU alone, then again while a Python spinner runs on a client CPU;
on separate cores the two times are about equal, on siblings the second is much longer.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench.procs import Pinning

__all__ = ["SHARED_ABOVE", "describe", "measure_core_sharing"]

SHARED_ABOVE = 1.25  # slowdown beyond which the two CPUs are reported as sharing a core

_LOOP = """
import os, time
os.sched_setaffinity(0, {cpu})
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    x = 0
    for i in range(2_000_000):
        x += i & 7
    best = min(best, time.perf_counter() - t)
print(best)
"""
# Busy until killed, or for 60 s at most: a run killed with SIGKILL mid-check must not leave it spinning.
_SPIN = """
import os, time
os.sched_setaffinity(0, {cpu})
print(flush=True)
end = time.monotonic() + 60
while time.monotonic() < end:
    pass
"""


def _timed_loop(cpu: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _LOOP.format(cpu={cpu})], capture_output=True, text=True, check=True, timeout=120
    )
    return float(done.stdout.strip())


def measure_core_sharing(pinning: Pinning) -> dict[str, Any] | None:
    """Slowdown of the server CPU while one client CPU is busy; None without pinning.

    Blocking (a few seconds): call it before the run starts its servers and clients.
    """
    if pinning.server is None or pinning.clients is None:
        return None
    server, client = min(pinning.server), min(pinning.clients)
    alone = _timed_loop(server)
    spinner = subprocess.Popen([sys.executable, "-c", _SPIN.format(cpu={client})], stdout=subprocess.PIPE)
    try:
        assert spinner.stdout is not None
        spinner.stdout.readline()  # it is pinned and spinning before the second timing starts
        beside = _timed_loop(server)
    finally:
        spinner.kill()
        spinner.wait()
    slowdown = beside / alone
    return {
        "server_cpu": server,
        "client_cpu": client,
        "alone_s": round(alone, 4),
        "beside_busy_s": round(beside, 4),
        "slowdown": round(slowdown, 2),
        "shared": slowdown > SHARED_ABOVE,
    }


def describe(start: dict[str, Any] | None, end: dict[str, Any] | None = None) -> str:
    """The machine table's line: the check at the start of the run, and at its end when it was made."""
    if not start:
        return "not measured (no pinning)"
    checks = [(when, r) for when, r in (("start", start), ("end", end)) if r]
    slowdowns = " and ".join(f"{r['slowdown']}x ({when})" for when, r in checks)
    shared = [r["shared"] for _, r in checks]
    if all(shared):
        verdict = "one physical core (SMT siblings): the clients' load slows the server"
    elif any(shared):
        verdict = "one physical core at one check, not at the other: the hypervisor moves them, and the figures vary"
    else:
        verdict = "separate physical cores"
    return (
        f"a Python loop on CPU {start['server_cpu']} ran {slowdowns} as long beside a busy CPU "
        f"{start['client_cpu']} as alone: {verdict}"
    )
