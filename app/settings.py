"""All configuration, read once from the environment at the edge and passed down."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from app.models.device import DEVICE_KINDS
from app.models.guest import GUEST_CREDENTIAL
from hub.config import HubConfig

__all__ = ["DEV_SECRET_KEY", "Settings", "SettingsError"]

DEV_SECRET_KEY = "dev-only-insecure-key-change-me-0123456789abcdef"


class SettingsError(Exception):
    """A setting is missing or invalid; the message says which and how to fix it."""


def _cast_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every field maps to an environment variable; ``.env.example`` lists them with these defaults."""

    env: Literal["dev", "production"] = "dev"  # HUB_ENV
    host: str = "127.0.0.1"  # HOST
    port: int = 8000  # PORT
    workers: int = 1  # WORKERS
    database_url: str = "sqlite+aiosqlite:///./hub.db"  # DATABASE_URL
    db_pool_size: int = 10  # HUB_DB_POOL_SIZE
    db_timeout_s: float = 10.0  # HUB_DB_TIMEOUT_S
    broker_url: str = ""  # HUB_BROKER_URL
    redis_namespace: str = "fx"  # HUB_REDIS_NAMESPACE (key prefix: several deployments may share one Redis)
    secret_key: str = ""  # HUB_SECRET_KEY
    node_id: str = ""  # HUB_NODE_ID (default: hostname-pid)
    log_level: str = "info"  # HUB_LOG_LEVEL
    access_ttl_s: int = 900  # HUB_ACCESS_TTL_S
    refresh_ttl_s: int = 7 * 24 * 3600  # HUB_REFRESH_TTL_S
    login_max_failures_user: int = 5  # HUB_LOGIN_MAX_FAILURES_USER (per username from one address, per window)
    login_max_failures_ip: int = 20  # HUB_LOGIN_MAX_FAILURES_IP (per address, all usernames, per window)
    login_window_s: int = 300  # HUB_LOGIN_WINDOW_S
    login_max_failures_account: int = 50  # HUB_LOGIN_MAX_FAILURES_ACCOUNT (per username, every address, per hour)
    login_known_address_s: int = 30 * 24 * 3600  # HUB_LOGIN_KNOWN_ADDRESS_S
    argon2_time_cost: int = 2  # HUB_ARGON2_TIME_COST
    argon2_memory_kib: int = 19456  # HUB_ARGON2_MEMORY_KIB
    argon2_parallelism: int = 1  # HUB_ARGON2_PARALLELISM
    hash_workers: int = 0  # HUB_HASH_WORKERS (0: half the CPUs, at least 1)
    hash_queue: int = 64  # HUB_HASH_QUEUE
    hash_wait_s: float = 5.0  # HUB_HASH_WAIT_S
    hash_nice: int = 19  # HUB_HASH_NICE (CPU priority of the hashing threads: 19 lowest, 0 normal)
    max_frame_bytes: int = 65536  # HUB_MAX_FRAME_BYTES
    hello_timeout_s: float = 10.0  # HUB_HELLO_TIMEOUT_S
    heartbeat_s: float = 20.0  # HUB_HEARTBEAT_S
    max_subscriptions: int = 100  # HUB_MAX_SUBSCRIPTIONS
    commands_per_s: float = 50.0  # HUB_COMMANDS_PER_S
    gps_per_s: float = 5.0  # HUB_GPS_PER_S
    outbound_queue: int = 512  # HUB_OUTBOUND_QUEUE (contract says 1024: must stay below HUB_HISTORY_SIZE)
    history_size: int = 1000  # HUB_HISTORY_SIZE
    history_ttl_s: float = 900.0  # HUB_HISTORY_TTL_S
    position_ttl_s: float = 900.0  # HUB_POSITION_TTL_S
    drain_s: float = 10.0  # HUB_DRAIN_S
    send_buffer_bytes: int = 0  # HUB_SEND_BUFFER_BYTES (0: OS default)
    device_touch_s: float = 30.0  # HUB_DEVICE_TOUCH_S
    max_pending_hellos: int = 100  # HUB_MAX_PENDING_HELLOS (per node; more wait up to HUB_HELLO_QUEUE_S; 0: no limit)
    hello_queue_s: float = 5.0  # HUB_HELLO_QUEUE_S (then 1013; at most 50 × HUB_MAX_PENDING_HELLOS wait)
    max_opening_sockets: int = 500  # HUB_MAX_OPENING_SOCKETS (101 sent, hello unanswered; more wait for their 101)
    listen_backlog: int = 4096  # HUB_LISTEN_BACKLOG (connections the kernel queues for accept; capped by somaxconn)
    max_pending_requests: int = 200  # HUB_MAX_PENDING_REQUESTS (REST, per process; one more is 503 at once; 0: none)
    max_sockets_per_user: int = 50  # HUB_MAX_SOCKETS_PER_USER (per node)
    max_devices_per_user: int = 50  # HUB_MAX_DEVICES_PER_USER
    allowed_origins: str = ""  # HUB_ALLOWED_ORIGINS (comma-separated; empty: any)
    trusted_proxies: str = "127.0.0.1,::1"  # HUB_TRUSTED_PROXIES (comma-separated addresses or CIDRs; "*": all)
    payment_hold_s: float = 600.0  # HUB_PAYMENT_HOLD_S (how long a guest's unpaid order holds its stock)
    payment_webhook_secret: str = ""  # HUB_PAYMENT_WEBHOOK_SECRET (empty: guest payments off)
    currency: str = "USD"  # HUB_CURRENCY (ISO 4217 code of every price and payment)
    guest_reconcile_s: float = 30.0  # HUB_GUEST_RECONCILE_S (expire holds, queue paid orders; 0: never)
    loyalty_points_per_order: int = 10  # HUB_LOYALTY_POINTS_PER_ORDER (per completed, paid guest order)
    guest_requests_per_min: int = 60  # HUB_GUEST_REQUESTS_PER_MIN (per client address, guest routes)
    # HUB_FAULT (fault tests only, refused in production):
    # exit-after-commit | stall-after-commit:SECONDS | stall-holding-lock:SECONDS
    fault: str = ""

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings.

        Raises:
            SettingsError: a value does not parse, or production mode lacks ``HUB_SECRET_KEY``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = _ENV_NAMES.get(f.name, f"HUB_{f.name.upper()}")
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = _cast_bool(raw)
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a valid {type(default).__name__}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in ("dev", "production"):
            raise SettingsError(f"HUB_ENV must be 'dev' or 'production', not {self.env!r}")
        if self.production and not self.secret_key:
            raise SettingsError(
                "HUB_SECRET_KEY must be set when HUB_ENV=production "
                '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.workers > 1 and not self.broker_url:
            raise SettingsError(
                f"WORKERS={self.workers} needs HUB_BROKER_URL=redis://…: with the in-process broker each worker "
                "would have its own topics, and a tablet on one worker would miss tickets placed through another"
            )
        if self.production and (len(self.secret_key) < 32 or self.secret_key == DEV_SECRET_KEY):
            raise SettingsError("HUB_SECRET_KEY must be at least 32 characters and not the dev key")
        if self.production and not _owasp_argon2(self.argon2_memory_kib, self.argon2_time_cost):
            raise SettingsError(
                f"HUB_ARGON2_MEMORY_KIB={self.argon2_memory_kib} with HUB_ARGON2_TIME_COST={self.argon2_time_cost} "
                "is weaker than OWASP's minimum for argon2id (e.g. 19456 KiB with time cost 2)"
            )
        if self.outbound_queue >= self.history_size:
            raise SettingsError(
                f"HUB_OUTBOUND_QUEUE={self.outbound_queue} must be smaller than HUB_HISTORY_SIZE={self.history_size}: "
                "a tablet closed 4500 for overflowing its queue could never resume from history"
            )
        if self.listen_backlog < 1:
            raise SettingsError(f"HUB_LISTEN_BACKLOG={self.listen_backlog} must be at least 1")
        if not 0 <= self.hash_nice <= 19:
            raise SettingsError(f"HUB_HASH_NICE={self.hash_nice} must be between 0 (normal priority) and 19 (lowest)")
        for name, value in (("HUB_HASH_QUEUE", self.hash_queue), ("HUB_ARGON2_PARALLELISM", self.argon2_parallelism)):
            if value < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.fault and (self.production or not _FAULT.fullmatch(self.fault)):
            raise SettingsError(
                f"HUB_FAULT={self.fault!r}: only for fault tests, outside production: "
                "exit-after-commit, stall-after-commit:SECONDS or stall-holding-lock:SECONDS"
            )
        if self.payment_hold_s < 0 or self.guest_reconcile_s < 0 or self.loyalty_points_per_order < 0:
            raise SettingsError(
                "HUB_PAYMENT_HOLD_S, HUB_GUEST_RECONCILE_S and HUB_LOYALTY_POINTS_PER_ORDER cannot be negative"
            )
        if self.guest_requests_per_min < 1:
            raise SettingsError("HUB_GUEST_REQUESTS_PER_MIN must be at least 1")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise SettingsError(f"HUB_CURRENCY={self.currency!r}: an ISO 4217 code in capitals, e.g. USD or EUR")
        for origin in self.origins:
            if origin != "*" and "://" not in origin:
                raise SettingsError(f"HUB_ALLOWED_ORIGINS: {origin!r} is not an origin like https://kds.example.com")

    @property
    def origins(self) -> tuple[str, ...]:
        """Allowed ``Origin`` values of browsers (``/ws`` and CORS); empty means any (native apps send none)."""
        return tuple(o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip())

    @property
    def hash_threads(self) -> int:
        """Threads hashing passwords: half the CPUs this process may run on (its affinity, e.g. a pinned
        container, not the machine's count), so the event loop always keeps a core."""
        return self.hash_workers if self.hash_workers > 0 else max(1, len(os.sched_getaffinity(0)) // 2)

    @property
    def signing_key(self) -> str:
        return self.secret_key or DEV_SECRET_KEY

    @property
    def node(self) -> str:
        """Unique per process: workers of one ``serve`` each get their own (presence liveness, control messages)."""
        if self.node_id and self.workers <= 1:
            return self.node_id
        return f"{self.node_id or socket.gethostname()}-{os.getpid()}"

    def hub_config(self) -> HubConfig:
        return HubConfig(
            node_id=self.node,
            max_frame_bytes=self.max_frame_bytes,
            hello_timeout_s=self.hello_timeout_s,
            heartbeat_s=self.heartbeat_s,
            max_subscriptions=self.max_subscriptions,
            commands_per_s=self.commands_per_s,
            gps_per_s=self.gps_per_s,
            outbound_queue=self.outbound_queue,
            history_size=self.history_size,
            history_ttl_s=self.history_ttl_s,
            position_ttl_s=self.position_ttl_s,
            drain_s=self.drain_s,
            send_buffer_bytes=self.send_buffer_bytes,
            touch_interval_s=self.device_touch_s,
            max_sockets_per_user=self.max_sockets_per_user,
            max_pending_hellos=self.max_pending_hellos,
            hello_queue_s=self.hello_queue_s,
            max_opening_sockets=self.max_opening_sockets,
            allowed_origins=self.origins,
            device_kinds=DEVICE_KINDS,
            hello_credentials=(GUEST_CREDENTIAL,),
        )


_FAULT = re.compile(r"exit-after-commit|(stall-after-commit|stall-holding-lock):[0-9]+(\.[0-9]+)?")


def _owasp_argon2(memory_kib: int, time_cost: int) -> bool:
    """OWASP Password Storage Cheat Sheet: argon2id with m=19 MiB/t=2 or an equivalent trade (m·t ≥ 35 MiB)."""
    return memory_kib >= 7168 and memory_kib * time_cost >= 35840


_ENV_NAMES = {
    "env": "HUB_ENV",
    "host": "HOST",
    "port": "PORT",
    "workers": "WORKERS",
    "database_url": "DATABASE_URL",
    "broker_url": "HUB_BROKER_URL",
}
