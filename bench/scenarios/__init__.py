"""The scenarios, by name. Adding one is a module here and a line in ``SCENARIOS``."""

from __future__ import annotations

from bench.scenarios import city, fanout, idle, ingest, logins, orders, pgorders, storm
from bench.scenarios.base import Scenario

__all__ = ["SCENARIOS"]

SCENARIOS: dict[str, Scenario] = {
    "fanout": fanout,
    "idle": idle,
    "orders": orders,
    "pgorders": pgorders,
    "ingest": ingest,
    "city": city,
    "logins": logins,
    "storm": storm,
}
