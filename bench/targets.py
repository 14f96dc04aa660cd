"""The servers under test: the hub (``python -m app serve``), the three peers, the trivial flooder and the sink.

Each one is a fresh process per scenario, pinned to the server CPU, started on a free port
and polled until it answers; the hub gets a copy of a database migrated and seeded once
per run, and a command rate limit high enough for the publisher. A scenario may ask, through
its :class:`Setup`, for fewer targets, more hub settings, or rows added to its database copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from bench.procs import Children, Pinning, free_port, http_request, wait_http, wait_tcp

__all__ = ["HUB_ENV", "NODE_PEER", "TARGETS", "Setup", "Target", "Targets", "login", "missing", "tail"]

TARGETS = ("hub", "naive", "socketio", "node")
NODE_PEER = Path(__file__).parent / "peers" / "node"
_EIO_PATH = "/socket.io/?EIO=4&transport=websocket"
HUB_ENV = {
    "HUB_ENV": "dev",
    "HUB_LOG_LEVEL": "warning",
    "HUB_COMMANDS_PER_S": "1000000",  # the publisher sends thousands of commands per second
    "HUB_ACCESS_TTL_S": "7200",  # a full run outlives the default 15-minute token
    "HUB_HELLO_TIMEOUT_S": "60",  # 10k sockets opening at once
    "HUB_MAX_SOCKETS_PER_USER": "100000",  # every subscriber of fan-out and idle is the chef
    "HUB_NODE_ID": "bench",
    "WORKERS": "1",
}


@dataclass(frozen=True)
class Setup:
    """How a scenario wants its servers started; the default is what fan-out and idle use."""

    targets: tuple[str, ...] | None = None
    """The targets the scenario is meant for (``None``: every one); others are skipped."""
    hub_env: Mapping[str, str] = field(default_factory=dict)
    """Hub settings on top of the bench's defaults, e.g. ``HUB_GPS_PER_S``."""
    prepare_hub_db: Callable[[Path], None] | None = None
    """Called with the hub's fresh copy of the seeded database before the hub starts (e.g. to add users)."""
    own_servers: bool = False
    """The scenario starts its servers itself (city: hub nodes on PostgreSQL and Redis, :mod:`bench.cluster`);
    the runner starts none and gives its ``run`` ``None`` for the target."""
    hub_db: Path | None = None
    """The hub's database file: made (a copy of the seeded template, then ``prepare_hub_db``) when it does not exist
    yet, used as it is when it does (storm: the same node restarted on its own data)."""
    port: int | None = None
    """The port to listen on (``None``: a free one); storm restarts a node where its tablets expect it."""
    server_cpus: Literal["server", "all"] = "server"
    """``server``: pinned to the server CPU (every scenario's default); ``all``: the server may run on every CPU the
    bench was given, the client processes' too (logins: the hub sizes its hashing pool from the CPU count)."""


@dataclass(frozen=True)
class Target:
    """A running server and how clients reach it."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    mode: str  # "ws" (hub JSON protocol), "eio" (Socket.IO) or "raw" (trivial flooder)
    path: str
    sub_token: str
    pub_token: str
    topic: str = "notice:1"

    @property
    def pid(self) -> int:
        return self.proc.pid


class Targets:
    def __init__(self, children: Children, pinning: Pinning, workdir: Path, root: Path) -> None:
        self.children = children
        self.pinning = pinning
        self.workdir = workdir
        self.root = root
        self._template: Path | None = None
        self._starts = 0

    def env(self, **extra: str) -> dict[str, str]:
        """The caller's environment without hub settings (``make`` exports .env), plus ``extra``."""
        drop = ("HUB_", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in ("HOST", "PORT", "WORKERS")}
        env["PYTHONPATH"] = str(self.root)
        env.update(extra)
        return env

    async def _hub_template(self) -> Path:
        """Migrate and seed once per run (argon2 hashing takes seconds); each hub start copies the file."""
        if self._template is None:
            path = self.workdir / "template.db"
            env = self.env(DATABASE_URL=f"sqlite+aiosqlite:///{path}", HUB_LOG_LEVEL="warning")
            for step in (["migrate"], ["seed", "--if-empty"]):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "app", *step, cwd=self.root, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
                try:
                    out, _ = await asyncio.wait_for(proc.communicate(), 120)
                except BaseException as exc:  # timed out or cancelled: do not leave it running
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
                    if isinstance(exc, TimeoutError):
                        raise RuntimeError(f"python -m app {' '.join(step)} took over 120 s") from None
                    raise
                if proc.returncode != 0:
                    raise RuntimeError(f"python -m app {' '.join(step)} failed: {out.decode()[-2000:]}")
            self._template = path
        return self._template

    @contextlib.asynccontextmanager
    async def running(self, name: str, setup: Setup | None = None) -> AsyncIterator[Target]:
        """Start ``name`` pinned to the server CPU, wait until it answers, yield it, stop it."""
        setup = setup or Setup()
        self._starts += 1
        port = setup.port or free_port()
        log = str(self.workdir / f"{name}-{self._starts}.log")
        cpus = self.pinning.server
        if setup.server_cpus == "all" and cpus is not None and self.pinning.clients is not None:
            cpus = cpus | self.pinning.clients
        if name == "hub":
            db = setup.hub_db or self.workdir / f"hub-{self._starts}.db"
            if not db.exists():
                shutil.copy(await self._hub_template(), db)
                if setup.prepare_hub_db is not None:
                    setup.prepare_hub_db(db)
            env = self.env(PORT=str(port), HOST="127.0.0.1", DATABASE_URL=f"sqlite+aiosqlite:///{db}", **HUB_ENV)
            env.update(setup.hub_env)
            argv = [sys.executable, "-m", "app", "serve"]
        elif name in ("naive", "socketio", "trivial", "sink"):
            module = {"naive": "naive", "socketio": "sio", "trivial": "trivial", "sink": "trivial"}[name]
            env = self.env()
            argv = [sys.executable, "-m", f"bench.peers.{module}", "--port", str(port)]
            argv += ["--sink"] if name == "sink" else []
        elif name == "node":
            env = self.env()
            argv = [shutil.which("node") or "node", str(NODE_PEER / "server.mjs"), "--port", str(port)]
        else:
            raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
        proc = self.children.start(argv, cpus=cpus, env=env, cwd=str(self.root), log=log)
        try:
            try:
                if name in ("trivial", "sink"):
                    await wait_tcp(port, proc)
                else:
                    await wait_http(port, "/readyz" if name == "hub" else "/healthz", proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{name} did not start: {exc}\n{tail(log)}") from None
            if name == "hub":
                sub, pub = await login(port, "chef"), await login(port, "manager")
            else:
                sub = pub = "bench-any-token"
            mode = {"hub": "ws", "naive": "ws", "node": "ws", "socketio": "eio", "trivial": "raw", "sink": "raw"}[name]
            yield Target(name, port, proc, mode, _EIO_PATH if mode == "eio" else "/ws", sub, pub)
        finally:
            await self.children.stop(proc)


def missing(name: str) -> str | None:
    """Why peer ``name`` cannot run on this machine (``make bench`` installs what it can), or None."""
    if name == "socketio" and importlib.util.find_spec("socketio") is None:
        return "python-socketio is not installed: `make bench` installs requirements-bench.txt"
    if name == "node":
        if shutil.which("node") is None:
            return "Node.js is not installed (the Node `ws` peer needs `node` on the PATH)"
        if not (NODE_PEER / "node_modules" / "ws").is_dir():
            return "the Node `ws` peer's package is not installed: `make bench` runs npm ci in bench/peers/node"
    return None


async def login(port: int, username: str) -> str:
    body = orjson.dumps({"username": username, "password": "password"})
    status, raw = await http_request(port, "POST", "/api/auth/login", body)
    if status != 200:
        raise RuntimeError(f"login as {username} failed: HTTP {status} {raw[:200]!r}")
    return str(orjson.loads(raw)["access_token"])


def tail(path: str, size: int = 2000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-size:]
    except OSError:
        return ""
