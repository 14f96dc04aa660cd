"""One bench run: pin, start the client processes, measure the client ceiling, then every scenario
against every target (a fresh server each time), print tables, write JSON and the docs page (which
keeps the sections of scenarios this run did not measure, see :mod:`bench.docs_merge`).

Every child process is killed in the ``finally``, whatever failed.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.ceiling import measure_ceiling
from bench.cluster import Services
from bench.core_sharing import measure_core_sharing
from bench.machine import machine
from bench.pool import ClientPool
from bench.procs import Children, busy_cpu_seconds, own_cpu_seconds, plan_pinning
from bench.scenarios import SCENARIOS
from bench.scenarios.base import PROFILES, Context
from bench.targets import TARGETS, Targets, missing
from bench.worker import raise_nofile

__all__ = ["Options", "ROOT", "run"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Options:
    profile: str = "quick"
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    targets: tuple[str, ...] = TARGETS
    client_processes: int = 0
    results_dir: Path = ROOT / "bench" / "results"
    docs: Path | None = ROOT / "docs" / "benchmarks.md"
    pin_self: bool = True
    ceiling: bool = True
    command: str = "python -m bench"
    services: Services | None = None  # PostgreSQL and Redis for the city scenario


def _check(options: Options) -> None:
    unknown = [s for s in options.scenarios if s not in SCENARIOS] + [t for t in options.targets if t not in TARGETS]
    if unknown or options.profile not in PROFILES:
        raise SystemExit(f"unknown: {unknown or options.profile}; scenarios {list(SCENARIOS)}, targets {TARGETS}")
    for name in options.targets:
        if (why := missing(name)) is not None:
            raise SystemExit(f"target {name}: {why}")


async def run(options: Options) -> dict[str, Any]:
    _check(options)
    profile = PROFILES[options.profile]
    pinning = plan_pinning()
    facts = machine(ROOT)  # before pinning ourselves: it reports the CPUs the run was given
    facts["core_sharing"] = await asyncio.to_thread(measure_core_sharing, pinning)  # before any child starts
    if options.pin_self and pinning.clients is not None:
        os.sched_setaffinity(0, pinning.clients)  # the orchestrator is a client too: off the server's CPU
    raise_nofile()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    started, busy0, own0 = time.monotonic(), busy_cpu_seconds(), own_cpu_seconds()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="fusionx-bench-"))
    record: dict[str, Any] = {
        "machine": facts,
        "profile": asdict(profile),
        "pinning": pinning.describe(),
        "targets": list(options.targets),
        "scenarios": {},
        "errors": [],
    }
    print(f"bench {profile.name}: pinning {record['pinning']}", flush=True)
    task = asyncio.current_task()
    if task is not None:  # SIGTERM cancels the run, so the ``finally`` below still stops every child
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        pool = await ClientPool.start(children, pinning, str(ROOT), options.client_processes)
        record["receivers"] = len(pool.receivers)
        targets = Targets(children, pinning, workdir, ROOT)
        ctx = Context(profile, pool, pinning, lambda line: print(line, flush=True), targets, services=options.services)
        if options.ceiling:
            record["ceiling"] = await measure_ceiling(targets, ctx)
        for name in options.scenarios:
            scenario = SCENARIOS[name]
            setup = scenario.setup(profile)
            by_target: dict[str, dict[str, Any]] = {}
            for target_name in options.targets:
                if setup.targets is not None and target_name not in setup.targets:
                    print(f"{name} / {target_name}: skipped (the scenario runs on {', '.join(setup.targets)})")
                    continue
                print(f"{name} / {target_name}", flush=True)
                try:
                    if setup.own_servers:  # e.g. city: hub nodes on PostgreSQL and Redis, started by the scenario
                        by_target[target_name] = await scenario.run(None, scenario.sizes(profile), ctx)
                    else:
                        async with targets.running(target_name, setup) as target:
                            by_target[target_name] = await scenario.run(target, scenario.sizes(profile), ctx)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    await pool.close_all()
                    message = f"{name}/{target_name}: {exc}"
                    print(f"  ERROR {message}", flush=True)
                    record["errors"].append(message)
                    by_target[target_name] = {"target": target_name, "error": str(exc)}
            record["scenarios"][name] = by_target
            print(f"\n{name} ({profile.name})\n{scenario.table(by_target)}\n", flush=True)
            path = report.write_json(options.results_dir, stamp, name, by_target)
            print(f"wrote {path}", flush=True)
    finally:
        await children.close()
        shutil.rmtree(workdir, ignore_errors=True)
    # Again at the end: a hypervisor may move the virtual CPUs onto other host threads during the run.
    facts["core_sharing_end"] = await asyncio.to_thread(measure_core_sharing, pinning)
    wall = time.monotonic() - started
    # Every child has been waited for, so its CPU time is in RUSAGE_CHILDREN: the rest of the machine's busy
    # time was other processes (another test run, a build) competing for the same CPUs.
    record["other_load_pct"] = round(100 * max(0.0, busy_cpu_seconds() - busy0 - (own_cpu_seconds() - own0)) / wall)
    record["ratios"] = report.ratios(record["scenarios"])
    record["seconds"] = round(wall, 1)
    report.write_json(options.results_dir, stamp, "run", record)
    if record["other_load_pct"] >= 10:
        print(f"WARNING: other processes used {record['other_load_pct']}% of a core during the run", flush=True)
    if options.docs is not None:
        previous = options.docs.read_text() if options.docs.exists() else ""
        options.docs.write_text(report.render(record, options.command, previous))
        print(f"wrote {options.docs}", flush=True)
    return record
