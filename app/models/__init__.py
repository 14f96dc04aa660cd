"""SQLModel tables and request/response shapes. Importing this package registers every table."""

from __future__ import annotations

from app.models.audit import AuditEntry
from app.models.auth import AuthSession, RefreshToken, User
from app.models.common import iso, utcnow
from app.models.device import Device
from app.models.fleet import Location, Truck, TruckHours
from app.models.menu import InventoryAdjustment, MenuCategory, MenuItem, ShiftStock
from app.models.order import IdempotencyRecord, Order, OrderLine, OrderStatusChange
from app.models.outbox import OutboxEvent
from app.models.shift import Shift

__all__ = [
    "AuditEntry",
    "AuthSession",
    "Device",
    "IdempotencyRecord",
    "InventoryAdjustment",
    "Location",
    "MenuCategory",
    "MenuItem",
    "Order",
    "OrderLine",
    "OrderStatusChange",
    "OutboxEvent",
    "RefreshToken",
    "Shift",
    "ShiftStock",
    "Truck",
    "TruckHours",
    "User",
    "iso",
    "utcnow",
]
