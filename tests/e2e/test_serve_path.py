"""The hub as ``make run`` serves it: ``python -m app serve`` in its own process (uvloop, httptools).

The in-process test server runs on pytest's asyncio loop; these tests cover what only the real
command line exercises (uvloop's transports, the process's own signal handling).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.support.nodes import ROOT, hub_process, process_env
from tests.support.server import command, recv

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.mark.timeout(60)
async def test_send_buffer_cap_under_the_real_serve_path_still_delivers(settings: Settings) -> None:
    """``HUB_SEND_BUFFER_BYTES`` once refused every socket under uvloop (its transport is no
    ``asyncio.WriteTransport``). With a 4 KiB cap, events far larger than the cap all arrive, in order."""
    async with hub_process(replace(settings, node_id="capped"), HUB_SEND_BUFFER_BYTES="4096") as node:
        tablet = await node.as_user("chef")
        assert (await command(tablet, {"type": "subscribe", "id": 1, "topic": "notice:1"}))["type"] == "subscribed"
        manager = await node.as_user("manager")
        text = "x" * 20_000  # five times the cap: each frame goes out through the backpressure path
        for i in range(10):
            frame = {"type": "publish", "id": i, "topic": "notice:1", "event": "notice.posted", "data": {"i": i}}
            if i % 2:
                frame["data"] = {"i": i, "text": text}
            assert (await command(manager, frame))["type"] == "published"
        events = [await recv(tablet) for _ in range(10)]
        assert [e["data"]["i"] for e in events] == list(range(10))
        assert [e["seq"] for e in events] == list(range(1, 11))


@pytest.mark.timeout(60)
async def test_an_outbound_queue_as_long_as_history_refuses_to_start_in_one_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", cwd=ROOT, env=process_env(HUB_OUTBOUND_QUEUE="1024"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().splitlines() == [
        "fusionx-hub: configuration error: HUB_OUTBOUND_QUEUE=1024 must be smaller than HUB_HISTORY_SIZE=1000: "
        "a tablet closed 4500 for overflowing its queue could never resume from history"
    ]


def _listen_backlog(port: int) -> int:
    """The kernel's accept-queue limit of the socket listening on ``port`` (``ss`` shows it as Send-Q)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


@pytest.mark.timeout(60)
async def test_the_listening_socket_queues_a_whole_kitchen_reconnecting_at_once(settings: Settings) -> None:
    """After a restart every tablet of a node connects within a second, faster than the loop accepts. uvicorn's
    backlog of 2048 overflowed in the storm bench (hundreds of 5,000 connections dropped, each back only after
    a TCP retransmit); the node listens with ``HUB_LISTEN_BACKLOG`` instead, which the kernel caps at somaxconn."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    if somaxconn <= 2048 or shutil.which("ss") is None:  # .ci/run installs ss; CI's kernels allow 4096
        pytest.skip(f"somaxconn {somaxconn} caps any backlog at uvicorn's default, or no ss to read it")
    asked = 3000
    async with hub_process(replace(settings, node_id="backlog"), HUB_LISTEN_BACKLOG=str(asked)) as node:
        assert _listen_backlog(node.port) == asked


@pytest.mark.timeout(120)
async def test_a_log_reader_that_stops_reading_stalls_no_request(settings: Settings) -> None:
    """Every request logs a line on standard error. Written from the event loop, the node froze once the pipe's
    buffer (64 KiB, a few hundred lines) was full and its reader (a terminal, journald, a container runtime) did
    not read: every socket waited for it. Here nobody reads at all: 1,500 requests still get their answers, and
    the node still stops promptly on SIGTERM."""
    async with hub_process(replace(settings, node_id="unread"), unread_stderr=True, HUB_LOG_LEVEL="info") as node:
        async with httpx.AsyncClient(base_url=node.http, timeout=10.0) as http:
            for _ in range(1_500):  # about 300 KB of log lines: several times the pipe's buffer
                assert (await http.get("/healthz")).status_code == 200
        stopping = time.monotonic()
        await node.stop()  # and it still exits on SIGTERM, on its own, its last lines lost
        assert node.proc.returncode in (0, -signal.SIGTERM)  # uvicorn exits by the signal it was given, not killed
        assert time.monotonic() - stopping < 15
