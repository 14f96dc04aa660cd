"""The bench code runs end to end on tiny sizes and measures real traffic (no benchmark runs here).

``python -m bench --profile smoke`` starts the real servers pinned to a CPU, the lean client
processes and the trivial flooder, exactly as ``make bench`` does, only with 20 subscribers
and half-second steps; its JSON results are checked for delivered events and real numbers.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(tmp_path: Path, targets: str, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench", "--profile", "smoke", "--targets", targets, "--no-docs"]
    argv += ["--results", str(tmp_path), *extra]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"bench failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    runs = sorted(tmp_path.glob("*-run.json"))
    assert runs, f"no run record written:\n{proc.stdout[-2000:]}"
    record: dict[str, Any] = json.loads(runs[-1].read_text())
    assert record["errors"] == []
    return record


def _check_fanout(result: dict[str, Any]) -> None:
    (size,) = result["sizes"]
    best = size["max"]
    assert best is not None, size["steps"]
    assert best["ok"] and best["published"] > 0
    assert best["delivered"] == best["expected"] == best["published"] * size["subscribers"] > 0
    assert best["lost"] == 0 and best["closed"] == {}
    assert best["delivered_per_s"] > 0
    assert best["cpu"]["server_cpu_pct"] > 0
    latency = size["latency"]
    assert latency["n_samples"] > 0 and latency["lost"] == 0 and size["event_frame_bytes"] > 150
    assert 0 < latency["latency_ms"]["p50"] <= latency["latency_ms"]["p99"] <= latency["latency_ms"]["p99.9"]
    same_load = size["latency_common"]
    assert same_load["n_samples"] > 0 and same_load["lost"] == 0 and same_load["latency_ms"]["p99"] > 0


def _check_idle(result: dict[str, Any]) -> None:
    (size,) = result["sizes"]
    assert size["still_open"] == size["connections"] == 50
    assert size["rss_after_kb"] > size["rss_before_kb"] > 0
    assert size["kb_per_connection"] > 0 and size["server_cpu_pct"] >= 0


def test_hub_and_naive_peer_on_tiny_sizes(tmp_path: Path) -> None:
    record = _bench(tmp_path, "hub,naive")
    assert record["ceiling"]["frames_per_s"] > 10_000
    for target in ("hub", "naive"):
        _check_fanout(record["scenarios"]["fanout"][target])
        _check_idle(record["scenarios"]["idle"][target])
    ratios = {r["metric"]: r for r in record["ratios"]}
    assert ratios["fanout S=20 deliveries/s"]["hub/naive"] > 0
    assert ratios["idle N=50 KB/connection"]["hub/naive"] > 0


@pytest.mark.skipif(
    importlib.util.find_spec("socketio") is None,
    reason="python-socketio not installed: `make bench` installs requirements-bench.txt",
)
def test_socketio_peer_on_tiny_sizes(tmp_path: Path) -> None:
    record = _bench(tmp_path, "socketio", "--no-ceiling", "--scenarios", "fanout")
    _check_fanout(record["scenarios"]["fanout"]["socketio"])
