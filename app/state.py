"""Everything the lifespan builds, passed to routes through one typed accessor (conventions §7)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from app.db import Database
from app.gps.positions import PositionStore
from app.metrics import MetricsExporter
from app.services.auth import AuthService
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


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.scope["state"]["app"]
    return state
