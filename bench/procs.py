"""Child processes: start them pinned to CPUs, read their CPU time and RSS from /proc, always kill them.

Every process the bench starts goes through :class:`Children`, whose ``close`` terminates
(then kills) each one by its pid; the orchestrator calls it in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Children",
    "Pinning",
    "busy_cpu_seconds",
    "cpu_seconds",
    "cpu_seconds_precise",
    "free_port",
    "http_request",
    "own_cpu_seconds",
    "plan_pinning",
    "rss_kb",
    "thread_schedstat",
    "wait_http",
    "wait_tcp",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server and the clients get; ``None`` when the machine has a single CPU (no pinning)."""

    server: frozenset[int] | None
    clients: frozenset[int] | None
    available: int

    def describe(self) -> str:
        if self.server is None or self.clients is None:
            return f"none: the process may use only {self.available} CPU, so server and clients share it"
        return (
            f"server on CPU {_cpus(self.server)}, client processes on CPU {_cpus(self.clients)} "
            f"(os.sched_setaffinity in each child before exec; {self.available} CPUs available)"
        )


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def plan_pinning() -> Pinning:
    """Server on the first allowed CPU, clients on the others."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return Pinning(None, None, len(allowed))
    return Pinning(frozenset(allowed[:1]), frozenset(allowed[1:]), len(allowed))


def _preexec(cpus: frozenset[int] | None) -> Callable[[], None]:
    def setup() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        with contextlib.suppress(OSError, AttributeError):  # die with the orchestrator, even on SIGKILL
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


class Children:
    """The processes started by this run, killed by pid in :meth:`close`."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes] | asyncio.subprocess.Process] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        cpus: frozenset[int] | None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        log: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """A server process; stdout and stderr go to ``log`` (kept for the error message if it dies)."""
        out = open(log, "ab") if log else subprocess.DEVNULL  # closed right after Popen
        try:
            # preexec_fn is safe here: the orchestrator starts no threads (HTTP polling is asyncio streams).
            proc = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=_preexec(cpus),
            )
        finally:
            if not isinstance(out, int):
                out.close()
        self._procs.append(proc)
        return proc

    async def start_worker(
        self, cpus: frozenset[int] | None, cwd: str, module: str = "bench.worker"
    ) -> asyncio.subprocess.Process:
        """A client process speaking JSON lines on its stdin/stdout (:mod:`bench.worker`, :mod:`bench.lines`)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
            preexec_fn=_preexec(cpus),
        )
        self._procs.append(proc)
        return proc

    async def stop(self, proc: subprocess.Popen[bytes] | asyncio.subprocess.Process, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; waits for the exit either way."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        await _wait_exit(proc, timeout)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await _wait_exit(proc, timeout)
        if isinstance(proc, asyncio.subprocess.Process) and proc.stdin is not None:
            proc.stdin.close()
        if proc in self._procs:
            self._procs.remove(proc)

    async def close(self) -> None:
        for proc in list(self._procs):
            await self.stop(proc)


async def _wait_exit(proc: subprocess.Popen[bytes] | asyncio.subprocess.Process, timeout: float) -> None:
    if isinstance(proc, asyncio.subprocess.Process):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout)
        return
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def cpu_seconds_precise(pid: int) -> float:
    """CPU time of every thread of a process in nanoseconds resolution (/proc/PID/task/*/schedstat):
    /proc/PID/stat counts clock ticks (10 ms), too coarse for a nearly idle server."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
            continue
    return total / 1e9


def thread_schedstat(pid: int, tid: int | None = None) -> tuple[float, float, int]:
    """One thread's (CPU seconds, seconds waited in the run queue, times it ran) since it started
    (/proc/PID/task/TID/schedstat; the main thread by default): how long a runnable thread waited for a CPU."""
    with open(f"/proc/{pid}/task/{tid or pid}/schedstat", "rb") as f:
        run_ns, wait_ns, runs = (int(x) for x in f.read().split()[:3])
    return run_ns / 1e9, wait_ns / 1e9, runs


def busy_cpu_seconds() -> float:
    """CPU time all processes of the machine used since boot (/proc/stat user + nice + system; interrupts and
    steal are left out: loopback traffic of this run is partly counted there, and steal is not a process)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:4]]
    return sum(fields) / _CLK_TCK


def own_cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def rss_kb(pid: int) -> int:
    """Resident set size in KiB (/proc/PID/status VmRSS)."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``GET path`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"port {port}: server exited with {proc.returncode} before it was ready")
        try:
            status, _ = await http_request(port, "GET", path)
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, TimeoutError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{path} on port {port} not ready after {timeout:g}s: {last}")


async def http_request(
    port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 request to 127.0.0.1 (no thread pool, no extra dependency): (status, body)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            raw = await reader.read(-1)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {raw[:80]!r}")
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]


async def wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll until 127.0.0.1:``port`` accepts a connection; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"port {port}: server exited with {proc.returncode} before it was ready")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"port {port} not accepting after {timeout:g}s")
