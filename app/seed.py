"""Demo data for dev mode (never in production): trucks, locations, six users (password ``password``), a menu."""

from __future__ import annotations

from sqlalchemy import delete, func, text
from sqlmodel import select

from app.db import Database
from app.models import (
    AuditEntry,
    AuthSession,
    Device,
    IdempotencyRecord,
    InventoryAdjustment,
    Location,
    MenuCategory,
    MenuItem,
    Order,
    OrderLine,
    OrderStatusChange,
    RefreshToken,
    Shift,
    ShiftStock,
    Truck,
    TruckHours,
    User,
)

__all__ = ["DEMO_MENU", "DEMO_PASSWORD", "DEMO_USERS", "seed"]

DEMO_PASSWORD = "password"
# (username, role, truck_id)
DEMO_USERS: list[tuple[str, str, int | None]] = [
    ("admin", "admin", None),
    ("manager", "manager", None),
    ("chef", "staff", 1),
    ("cook2", "staff", 2),
    ("driver1", "driver", None),
    ("driver2", "driver", None),
]
# (category, truck_id or None for every truck, [(item, price_cents, station)])
DEMO_MENU: list[tuple[str, int | None, list[tuple[str, int, str]]]] = [
    ("Tacos", 1, [("Carne asada taco", 450, "grill"), ("Al pastor taco", 425, "grill"), ("Fish taco", 500, "fryer")]),
    ("Curries", 2, [("Butter chicken", 1150, "stove"), ("Chana masala", 950, "stove")]),
    ("Sides", None, [("Fries", 350, "fryer"), ("Elote", 400, "grill")]),
    ("Drinks", None, [("Lemonade", 300, "drinks"), ("Horchata", 350, "drinks")]),
]
_ALL_TABLES = (
    AuditEntry,
    IdempotencyRecord,
    OrderStatusChange,
    OrderLine,
    Order,
    InventoryAdjustment,
    ShiftStock,
    MenuItem,
    MenuCategory,
    RefreshToken,
    AuthSession,
    Device,
    Shift,
    User,
    Location,
    TruckHours,
    Truck,
)


async def seed(db: Database, *, password_hash: str, reset: bool = False) -> bool:
    """Insert the demo data. Without ``reset`` only into an empty database; returns whether it wrote.

    ``password_hash`` is the hash of ``DEMO_PASSWORD`` every demo user gets (hashed once, by the caller).
    """
    async with db.session() as session:
        if reset:
            for table in _ALL_TABLES:
                await session.exec(delete(table))
        elif (await session.exec(select(func.count()).select_from(User))).one() > 0:
            return False
        session.add_all([Truck(id=1, name="Taco Titan"), Truck(id=2, name="Curry Cruiser")])
        session.add_all(
            [
                Location(id=1, name="Harbor Square", address="1 Harbor Sq", lat=5.3600, lon=-4.0083),
                Location(id=2, name="Tech Park", address="200 Innovation Ave", lat=5.3450, lon=-3.9900),
            ]
        )
        await session.flush()
        for index, (username, role, truck) in enumerate(DEMO_USERS, start=1):
            session.add(User(id=index, username=username, password_hash=password_hash, role=role, truck_id=truck))
        await session.flush()
        item_id = 0
        for position, (category, truck, items) in enumerate(DEMO_MENU, start=1):
            session.add(MenuCategory(id=position, name=category, position=position, truck_id=truck))
            await session.flush()
            for name, price, station in items:
                item_id += 1
                session.add(MenuItem(id=item_id, category_id=position, name=name, price_cents=price, station=station))
        await session.flush()
        if db.engine.dialect.name == "postgresql":
            # Explicit ids do not advance Postgres sequences: move them past the seeded rows.
            for name in ("trucks", "locations", "users", "menu_categories", "menu_items"):
                await session.exec(  # type: ignore[call-overload]
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
        await session.commit()
    return True
