"""Demo data for dev mode (never in production): two trucks, two locations, six users, password ``password``."""

from __future__ import annotations

from sqlalchemy import delete, func, text
from sqlmodel import select

from app.db import Database
from app.models import AuthSession, Device, Location, RefreshToken, Shift, Truck, User
from app.security import PasswordHashing

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "seed"]

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


async def seed(db: Database, *, reset: bool = False, password_hash: str | None = None) -> bool:
    """Insert the demo data. Without ``reset`` only into an empty database; returns whether it wrote.

    ``password_hash`` lets tests reuse one argon2 hash instead of hashing six times.
    """
    async with db.session() as session:
        if reset:
            for table in (RefreshToken, AuthSession, Device, Shift, User, Location, Truck):
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
        hashed = password_hash or PasswordHashing().hash(DEMO_PASSWORD)
        for index, (username, role, truck) in enumerate(DEMO_USERS, start=1):
            session.add(User(id=index, username=username, password_hash=hashed, role=role, truck_id=truck))
        await session.flush()
        if db.engine.dialect.name == "postgresql":
            # Explicit ids do not advance Postgres sequences: move them past the seeded rows.
            for name in ("trucks", "locations", "users"):
                await session.exec(  # type: ignore[call-overload]
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
        await session.commit()
    return True
