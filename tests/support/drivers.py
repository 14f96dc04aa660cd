"""Many driver accounts for GPS tests (the seed has two): rows added to the test's own database."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from app.db import Database
from app.models import User
from tests.support.server import RunningServer


async def add_drivers(server: RunningServer, count: int) -> list[str]:
    """Create ``count`` driver users (password ``password``) and return their access tokens."""
    db = Database(server.settings.database_url)
    try:
        async with db.session() as session:
            template = (await session.exec(select(User).where(User.username == "driver1"))).one()
            names = [f"gps-driver-{i}" for i in range(count)]
            session.add_all(User(username=n, password_hash=template.password_hash, role="driver") for n in names)
            await session.commit()
    finally:
        await db.close()
    return list(await asyncio.gather(*(server.token(n) for n in names)))
