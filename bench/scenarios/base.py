"""What every scenario gets and must provide, so a new one (ingest, city) is one small module.

A scenario module defines ``NAME``, ``sizes(profile)``, ``setup(profile) -> Setup`` (which
targets it runs on and how their servers start), ``async run(target, sizes, ctx) -> dict``
(one target, all sizes; JSON-ready), ``table(results) -> str`` (results of every target of the
run, keyed by target name), ``headline(result) -> dict[str, Metric]`` (the figures compared
hub/peer) and ``METHOD`` (how it measures, for the docs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from bench.measure import CpuMeter
from bench.pool import ClientPool
from bench.procs import Pinning
from bench.targets import Setup, Target, Targets

__all__ = ["PROFILES", "Context", "Metric", "Profile", "Scenario", "Setup"]


@dataclass(frozen=True)
class Profile:
    """Sizes and durations of one kind of run."""

    name: str
    fanout_sizes: tuple[int, ...]
    idle_sizes: tuple[int, ...]
    step_s: float  # one publish rate held this long while searching for the max
    latency_s: float  # the half-rate run that measures latency
    bisections: int  # refinements between the last rate that kept up and the first that did not
    latency_samples: int  # frames decoded for latency (one in N)
    idle_window_s: float  # one heartbeat interval (20 s): each idle socket is pinged once in the window
    ceiling_s: float
    start_deliveries: float  # first rate tried, in deliveries/s
    max_steps: int = 14  # publish steps per size while searching for the max
    common_deliveries: float = 5_000  # latency at this load too, the same for every target
    warmups: int = 2  # trickle steps before the search; the last one measures one event's fan-out time
    # orders: REST orders → KDS tablets (hub only)
    order_rates: tuple[float, ...] = (50, 100, 200, 400, 800, 1600, 3200)  # orders/s, tried in turn
    order_step_s: float = 3.0  # one rate held this long
    order_first_s: float = 5.0  # the first rate (50/s, the headline) held longer: more samples for its p99
    order_tablets: int = 4
    # ingest: driver GPS pings → gps:fleet dashboards
    ingest_drivers: tuple[int, ...] = (2000,)
    ingest_dashboards: int = 4
    ingest_start_rate: float = 2_000  # pings/s, doubled until a step fails, then bisected
    ingest_common_rate: float = 2_000  # latency at this load too, the same for every target
    ingest_step_s: float = 2.0


# fmt: off
PROFILES = {
    "quick": Profile("quick", (200, 1000), (2000,), 2.0, 3.0, 2, 20_000, 20.0, 3.0, 25_000),
    "full": Profile(
        "full", (1000, 5000), (10_000,), 4.0, 5.0, 3, 50_000, 20.0, 5.0, 25_000,
        order_step_s=5.0, order_first_s=10.0, ingest_step_s=4.0,
    ),
    "smoke": Profile(
        "smoke", (20,), (50,), 0.5, 0.5, 0, 500, 1.0, 0.5, 4_000, max_steps=2, common_deliveries=1_000, warmups=1,
        order_rates=(50, 100), order_step_s=0.5, order_first_s=1.0, order_tablets=2,
        ingest_drivers=(20,), ingest_dashboards=2, ingest_start_rate=200, ingest_common_rate=200, ingest_step_s=0.5,
    ),
}
# fmt: on


class Metric(NamedTuple):
    value: float | None
    unit: str
    higher_is_better: bool
    client_bound: bool = False  # the figure may be the client's limit, not the server's


@dataclass
class Context:
    profile: Profile
    pool: ClientPool
    pinning: Pinning
    say: Callable[[str], None]
    targets: Targets
    """To start more client processes (``targets.children``) or a helper server such as the sink."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Figures a scenario measures once per run whatever the target, e.g. its client's ceiling."""

    def meter(self, target: Target, *extra: int) -> CpuMeter:
        """Starts measuring the server's and every client process's CPU (the pool's and ``extra`` pids)."""
        cpus = len(self.pinning.clients) if self.pinning.clients is not None else 1
        return CpuMeter(target.pid, [*(w.pid for w in self.pool.workers), *extra], cpus)


class Scenario(Protocol):
    NAME: str
    METHOD: str  # how it measures: one Markdown bullet for the Method section of docs/benchmarks.md

    def sizes(self, profile: Profile) -> tuple[int, ...]: ...

    def setup(self, profile: Profile) -> Setup: ...

    async def run(self, target: Target, sizes: tuple[int, ...], ctx: Context) -> dict[str, Any]: ...

    def table(self, results: dict[str, dict[str, Any]]) -> str: ...

    def headline(self, result: dict[str, Any]) -> dict[str, Metric]: ...
