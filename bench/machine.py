"""What a run was measured on: the machine, the packages of every target, and the code (commit, local changes)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.targets import NODE_PEER, missing

__all__ = ["machine"]

_PACKAGES = (
    "uvicorn",
    "starlette",
    "uvloop",
    "httptools",
    "websockets",
    "orjson",
    "python-socketio",
    "python-engineio",
)


def machine(root: Path) -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(_mem_total_kb() / 2**20, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": versions | _node_versions(),
        "commit": _git(root, "rev-parse", "--short", "HEAD"),
        "hub_app_modified": bool(_git(root, "status", "--porcelain", "--", "hub", "app")),
    }


def _node_versions() -> dict[str, str]:
    """Node.js and `ws` of the Node peer, when it can run."""
    if missing("node") is not None:
        return {}
    ws = orjson.loads((NODE_PEER / "node_modules" / "ws" / "package.json").read_bytes())["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {"node": node.removeprefix("v"), "ws (Node)": str(ws)}


def _mem_total_kb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _git(root: Path, *args: str) -> str:
    """Read-only git queries (which code was measured); empty when git is unavailable."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()
