"""Everything the lifespan builds, passed to routes through one typed accessor."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from app.db import Database
from app.gps.positions import PositionStore
from app.guest_limit import GuestRateLimit
from app.metrics import MetricsExporter
from app.services.auth import AuthService
from app.services.guest_menu import MenuCache
from app.services.kds_cache import KdsSnapshots
from app.services.relay import Relay
from app.services.serial import ShiftLocks
from app.sessions import SessionCache
from app.settings import Settings
from hub.hub import Hub

__all__ = ["AppState", "app_state"]


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    hub: Hub
    auth: AuthService
    exporter: MetricsExporter
    locks: ShiftLocks
    positions: PositionStore
    relay: Relay
    sessions: SessionCache
    guest_menus: MenuCache = field(default_factory=MenuCache)
    """Rendered guest menus, for about a second (protocol.md §4.3: cheap under a rush)."""
    kds_snapshots: KdsSnapshots = field(default_factory=KdsSnapshots)
    """Encoded KDS snapshots per shift, served again while the topic's position has not moved."""
    guest_limit: GuestRateLimit = field(default_factory=lambda: GuestRateLimit(60))
    """Guest requests per client address (HUB_GUEST_REQUESTS_PER_MIN)."""


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.scope["state"]["app"]
    return state
