"""SQLModel tables and request/response shapes. Importing this package registers every table."""

from __future__ import annotations

from app.models.auth import AuthSession, RefreshToken, User
from app.models.common import iso, utcnow
from app.models.device import Device
from app.models.fleet import Location, Truck
from app.models.menu import InventoryAdjustment, MenuAudit, MenuCategory, MenuItem, ShiftStock
from app.models.order import IdempotencyRecord, Order, OrderLine, OrderStatusChange
from app.models.shift import Shift

__all__ = [
    "AuthSession",
    "Device",
    "IdempotencyRecord",
    "InventoryAdjustment",
    "Location",
    "MenuAudit",
    "MenuCategory",
    "MenuItem",
    "Order",
    "OrderLine",
    "OrderStatusChange",
    "RefreshToken",
    "Shift",
    "ShiftStock",
    "Truck",
    "User",
    "iso",
    "utcnow",
]
